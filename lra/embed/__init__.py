"""The embed family (workflow/rules/embed.smk): image encoders f_p (`encoders`: pixels and the
registry; `clip`: open_clip; `simclr`: SimCLR trained on the dataset's own images, with its views
in `augment`, its networks in `backbones` and its hyper-parameters in `config`; `batched`: the
loop the torch encoders share) and the family's stages on files (`stage`: pretrain → a SimCLR
encoder's weights, embed → feature shards)."""
