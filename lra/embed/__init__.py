"""The embed family (workflow/rules/embed.smk): image encoders f_p (`encoders`: pixels and the
registry; `clip`: open_clip) and the embed stage on files (`stage`: manifest → feature shards)."""
