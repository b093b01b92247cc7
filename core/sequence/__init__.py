"""The Sequence studio: models that make a picture over steps. DRAW now (Gregor et al. 2015: a recurrent
VAE that draws with attention, glimpse by glimpse); a ConvLSTM forecaster of the next frames joins it.

- `settings`: torch-free sizes, `DrawConfig` and the presets, for the window and the CLI;
- `attention`: the paper's Gaussian filterbanks, read and write;
- `draw`: the `Draw` network and its negative ELBO (`draw_elbo`);
- `draw_training`: the training job and its checkpoints (cancel, bit-identical resume);
- `draw_inference`: a trained DRAW: load, sample and reconstruct as canvas sequences, evaluate;
- `jobs`: sample, reconstruct and evaluate as jobs for the window and the CLI.
"""
