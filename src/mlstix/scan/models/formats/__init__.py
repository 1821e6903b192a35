"""One analyzer module per family of model formats: archives (zip, tar, compression wrappers),
serialized Python (pickle files, NumPy), tensors (safetensors, GGUF, TFLite), protobuf (ONNX,
TensorFlow SavedModel and GraphDef) and Keras (``.keras``, HDF5).

Each analyzer is ``(Source, Context) -> kind``; :func:`mlstix.scan.models._sniff.analyzers`
registers them.
"""
