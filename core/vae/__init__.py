"""Convolutional variational autoencoders: train on a folder of pictures, then reconstruct, morph,
sample and explore the latent space with sliders.

- `settings`: torch-free sizes, likelihoods and `VaeConfig`, for the window and the CLI;
- `networks`: the encoder-decoder, the ELBO and bits per dimension (the papers behind them);
- `training`: the training job and its checkpoints (KL warm-up, cancel, bit-identical resume);
- `density`: the Gaussian mixture fitted to the training pictures' codes that samples are drawn from
  (the ex-post density of Ghosh et al. 2020);
- `inference`: a trained VAE: load, encode, decode, reconstruct, interpolate, sample, latent offsets,
  evaluate;
- `jobs`: reconstruct, interpolate, sample and decode as jobs for the window and the CLI.
"""
