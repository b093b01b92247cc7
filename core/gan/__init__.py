"""GANs that learn from small data sets: a DCGAN-style generator against a spectrally normalised
discriminator, with the hinge loss, DiffAugment and an EMA generator; class-conditional when the data has
classes.

- `settings`: torch-free sizes, DiffAugment policy names and `GanConfig`, for the window and the CLI;
- `networks`: the generator, the discriminator, the hinge losses and DiffAugment (the papers behind them);
- `training`: the training job and its checkpoints (cancel, divergence checks, bit-identical resume);
- `inference`: a trained generator: load, sample, interpolate, vary;
- `jobs`: sample, interpolate and vary as jobs for the window and the CLI.
"""
