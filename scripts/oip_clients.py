#!/usr/bin/env python3
"""Stock Open Inference Protocol clients against an Inkset server's recognizer.

Runs Triton's Python HTTP client (tritonclient[http]) and KServe's Python SDK REST client
(kserve.InferenceRESTClient) against `--url`, with JSON and binary tensor data, batch 1 and
batch 8, and checks every answer against the probabilities the server gave to plain JSON
requests for the same rasters (`--cases`, written by the Rust test that starts the server):

    {"n": 32, "classes": [...], "rasters": [[n*n floats], ...], "expected": [[k floats], ...]}

Also calls each client's health and metadata calls. Exits non-zero on the first mismatch,
printing what differed. Used by apps/trainer/tests/pipeline.rs (the test command).
"""

import argparse
import asyncio
import json
import sys

import numpy as np

TOLERANCE = 1e-5


def check(name, got, expected):
    got = np.asarray(got, dtype=np.float32)
    expected = np.asarray(expected, dtype=np.float32)
    if got.shape != expected.shape:
        sys.exit(f"{name}: shape {got.shape}, expected {expected.shape}")
    worst = float(np.max(np.abs(got - expected)))
    if worst > TOLERANCE:
        sys.exit(f"{name}: max |difference| {worst:.3g} > {TOLERANCE}")
    print(f"{name}: ok (max |difference| {worst:.2g})")


def triton(url, cases):
    import tritonclient.http as httpclient

    host = url.removeprefix("http://")
    client = httpclient.InferenceServerClient(url=host)
    assert client.is_server_live(), "triton: server not live"
    assert client.is_server_ready(), "triton: server not ready"
    assert client.is_model_ready("recognizer"), "triton: model not ready"
    server = client.get_server_metadata()
    assert server["name"] == "inkset", server
    meta = client.get_model_metadata("recognizer")
    n = cases["n"]
    assert meta["inputs"][0]["shape"] == [-1, 1, n, n], meta
    version = meta["versions"][0]
    assert client.get_model_metadata("recognizer", model_version=version)["name"] == "recognizer"
    rasters = np.asarray(cases["rasters"], dtype=np.float32).reshape(-1, 1, n, n)
    for batch in (1, 8):
        x = rasters[:batch]
        for binary in (False, True):
            inp = httpclient.InferInput("raster", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            out = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
            res = client.infer("recognizer", [inp], outputs=[out], request_id=f"t{batch}")
            check(
                f"tritonclient batch {batch} {'binary' if binary else 'json'}",
                res.as_numpy("probabilities"),
                cases["expected"][:batch],
            )
    # Defaults: binary input, no outputs named (the server's choice of encoding).
    inp = httpclient.InferInput("raster", [1, 1, n, n], "FP32")
    inp.set_data_from_numpy(rasters[:1])
    res = client.infer("recognizer", [inp])
    check("tritonclient defaults", res.as_numpy("probabilities"), cases["expected"][:1])
    client.close()


async def kserve_client(url, cases):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
    assert await client.is_server_live(url), "kserve: server not live"
    assert await client.is_server_ready(url), "kserve: server not ready"
    assert await client.is_model_ready(url, "recognizer"), "kserve: model not ready"
    n = cases["n"]
    rasters = np.asarray(cases["rasters"], dtype=np.float32).reshape(-1, 1, n, n)
    for batch in (1, 8):
        x = rasters[:batch]
        for binary in (False, True):
            inp = InferInput(name="raster", shape=list(x.shape), datatype="FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            req = InferRequest(
                model_name="recognizer",
                infer_inputs=[inp],
                request_id=f"k{batch}",
                parameters={"binary_data_output": binary},
            )
            res = await client.infer(url, req, model_name="recognizer")
            check(
                f"kserve batch {batch} {'binary' if binary else 'json'}",
                res.outputs[0].as_numpy(),
                cases["expected"][:batch],
            )
    await client._client.aclose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://HOST:PORT of the server")
    parser.add_argument("--cases", required=True, help="JSON file of rasters and expectations")
    args = parser.parse_args()
    with open(args.cases) as f:
        cases = json.load(f)
    triton(args.url, cases)
    asyncio.run(kserve_client(args.url, cases))
    print("all clients agree")


if __name__ == "__main__":
    main()
