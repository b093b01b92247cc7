"""The Sequence studio: models that make pictures over steps. DRAW (Gregor et al. 2015: a recurrent VAE
that draws with attention, glimpse by glimpse) and a ConvLSTM encoder-forecaster (Shi et al. 2015) that
continues a sequence of frames.

- `settings`: torch-free sizes, `DrawConfig`, `ForecastConfig` and the presets, for the window and the CLI;
- `attention`: DRAW's Gaussian filterbanks, read and write;
- `draw`: the `Draw` network and its negative ELBO (`draw_elbo`);
- `draw_training`: its training job and checkpoints (cancel, bit-identical resume);
- `draw_inference`: a trained DRAW: load, sample and reconstruct as canvas sequences, evaluate;
- `sequences`: the forecaster's data: Moving Fashion-MNIST made on the fly, clips of folders, GIFs, videos;
- `forecast`: the ConvLSTM cell and the `Forecaster`;
- `forecast_training`: its training job and checkpoints;
- `forecast_inference`: a trained forecaster: load, continue a sequence, evaluate (MSE, SSIM, copy-last);
- `jobs`: the models' uses as jobs for the window and the CLI.
"""
