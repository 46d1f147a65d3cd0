"""One drawing at a time through a running inkset-server's classify (issue 18's "local single
drawing" figure): real Quick, Draw! raw drawings from the shared data folder, sent one after
the other, 200 warm-up requests not counted. Reports the quantiles of the server's own
`latency_ms` in each answer (from the parsed body to the answer: JSON parsing, validation,
rasterization, the micro-batcher's hand-off and the network) and of the client's whole round
trip (Python's urllib, loopback and HTTP included).

Usage: python3 classify_latency.py URL [SHARED_DATA] [REQUESTS]
  URL: e.g. http://127.0.0.1:8080/api/inference/classify (a recognizer in production, rate
  limits off or high enough); SHARED_DATA default ../shared/data; REQUESTS default 3000.
"""
import glob, json, sys, time, urllib.request

url = sys.argv[1]
data = sys.argv[2] if len(sys.argv) > 2 else "../shared/data"
n = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
bodies = []
for path in sorted(glob.glob(f"{data}/quickdraw/raw/*.ndjson")):
    for line in open(path):
        d = json.loads(line)
        # Quick, Draw! raw: each stroke is [xs, ys, ts] (ms since the first point).
        strokes = [{"points": [{"x": x, "y": y, "timestamp": t} for x, y, t in zip(*s[:3])]}
                   for s in d["drawing"]]
        bodies.append(json.dumps({"strokes": strokes}).encode())
if not bodies:
    sys.exit(f"no drawings under {data}/quickdraw/raw")
server, trip = [], []
for i in range(n + 200):
    req = urllib.request.Request(url, data=bodies[i % len(bodies)],
                                 headers={"content-type": "application/json"})
    t = time.perf_counter()
    answer = json.loads(urllib.request.urlopen(req).read())
    ms = (time.perf_counter() - t) * 1000
    if i >= 200:
        server.append(answer["latency_ms"])
        trip.append(ms)

def q(v, p):
    return sorted(v)[int(p * (len(v) - 1))]

print(f"{len(server)} requests ({len(bodies)} distinct drawings): server-side latency_ms "
      f"p50 {q(server, .5):.3f} p95 {q(server, .95):.3f} p99 {q(server, .99):.3f}; "
      f"client round trip p50 {q(trip, .5):.3f} ms")
