#!/usr/bin/env python3
"""Checks an ONNX file written by `alexnet export` with ONNX's own tools and runs it in
OpenCV's dnn module (Debian: python3-onnx, python3-opencv):

    /usr/bin/python3 scripts/check_onnx.py model.onnx input.f32 N C H W

onnx.checker.check_model (full check) and onnx.shape_inference.infer_shapes (strict)
must pass; the inferred output shape must be [batch, classes]. input.f32 holds N images
already preprocessed, little-endian float32 NCHW. Prints one JSON object: the opset,
the metadata and OpenCV's output probabilities, [N][classes].
"""

import json
import sys

import cv2
import numpy as np
import onnx


def main():
    path, raw = sys.argv[1], sys.argv[2]
    n, c, h, w = (int(v) for v in sys.argv[3:7])
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    out = inferred.graph.output[0]
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    x = np.fromfile(raw, dtype="<f4").reshape(n, c, h, w)
    net = cv2.dnn.readNetFromONNX(path)
    net.setInput(x)
    probs = net.forward()
    print(json.dumps({
        "opset": [o.version for o in model.opset_import],
        "ir_version": model.ir_version,
        "output": out.name,
        "output_dims": dims,
        "input_dims": [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim],
        "metadata": {p.key: p.value for p in model.metadata_props},
        "probabilities": probs.astype(float).tolist(),
        "opencv": cv2.__version__,
        "onnx": onnx.__version__,
    }))


if __name__ == "__main__":
    main()
