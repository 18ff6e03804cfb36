"""Python side of ml/: Feast repo access, point-in-time training sets, LightGBM training, ONNX export, the MLflow
registry and its promotion gate. Invoked by the TypeScript commands (`npm run train`, tests) through the project's
own virtualenv (ml/src/py/venv.ts)."""
