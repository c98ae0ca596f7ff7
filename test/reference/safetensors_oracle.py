"""An independent reader of Hugging Face safetensors folders, for the tests (json + struct + zlib only).

usage: safetensors_oracle.py FOLDER
Prints JSON: {"files": {file: {"tensors": n, "data_bytes": n}}, "index": {...} or null,
"tensors": {name: {"file", "dtype", "shape", "crc_ok", "sha256", "count", "mean", "std", "min", "max"}}}.
Exits non-zero with a message on anything malformed: a header that is not JSON, data offsets
that do not tile the data, a checksum (metadata key wasmformers.crc32) that does not match,
an index that names a tensor its file lacks or misses one a file has.
"""
import hashlib
import json
import math
import os
import struct
import sys
import zlib

SIZES = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8}


def values(dtype, raw):
    """The tensor's numbers as Python floats."""
    n = len(raw) // SIZES[dtype]
    if dtype == "F32":
        return struct.unpack("<%df" % n, raw)
    if dtype == "F64":
        return struct.unpack("<%dd" % n, raw)
    if dtype == "F16":
        return struct.unpack("<%de" % n, raw)
    # bfloat16: the high half of an f32
    halves = struct.unpack("<%dH" % n, raw)
    return struct.unpack("<%df" % n, struct.pack("<%dI" % n, *[h << 16 for h in halves]))


def read_file(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    crcs = json.loads(meta["wasmformers.crc32"]) if "wasmformers.crc32" in meta else {}
    body = data[8 + hlen :]
    spans = sorted((t["data_offsets"][0], t["data_offsets"][1], name) for name, t in header.items())
    at = 0
    for begin, end, name in spans:
        if begin != at:
            sys.exit("%s: tensor %s starts at %d, expected %d" % (path, name, begin, at))
        at = end
    if at != len(body):
        sys.exit("%s: data is %d bytes, tensors cover %d" % (path, len(body), at))
    out = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        raw = body[begin:end]
        count = 1
        for d in t["shape"]:
            count *= d
        if count * SIZES[t["dtype"]] != len(raw):
            sys.exit("%s: tensor %s has %d bytes for %s%s" % (path, name, len(raw), t["dtype"], t["shape"]))
        crc_ok = name in crcs and int(crcs[name], 16) == (zlib.crc32(raw) & 0xFFFFFFFF)
        v = values(t["dtype"], raw)
        mean = math.fsum(v) / count
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in v) / count)
        out[name] = {"dtype": t["dtype"], "shape": t["shape"], "crc_ok": crc_ok,
                     "sha256": hashlib.sha256(raw).hexdigest(), "count": count,
                     "mean": mean, "std": std, "min": min(v), "max": max(v)}
    return out, len(body)


def main(folder):
    index_path = os.path.join(folder, "model.safetensors.index.json")
    index = None
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        files = sorted(set(index["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    result = {"files": {}, "index": index, "tensors": {}}
    for name in files:
        tensors, data_bytes = read_file(os.path.join(folder, name))
        result["files"][name] = {"tensors": len(tensors), "data_bytes": data_bytes}
        for t, info in tensors.items():
            if t in result["tensors"]:
                sys.exit("%s: tensor %s is in two files" % (folder, t))
            if index is not None and index["weight_map"].get(t) != name:
                sys.exit("%s: the index does not map %s to %s" % (folder, t, name))
            info["file"] = name
            result["tensors"][t] = info
    if index is not None:
        missing = set(index["weight_map"]) - set(result["tensors"])
        if missing:
            sys.exit("%s: the index names tensors no file holds: %s" % (folder, sorted(missing)))
        total = sum(f["data_bytes"] for f in result["files"].values())
        if index["metadata"]["total_size"] != total:
            sys.exit("%s: total_size %d, the files hold %d" % (folder, index["metadata"]["total_size"], total))
    json.dump(result, sys.stdout)


main(sys.argv[1])
