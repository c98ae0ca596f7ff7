#!/usr/bin/env python3
"""An independent reader and writer of MindSpore .ckpt files: Debian's python3-protobuf with
message classes that protoc generates from test/reference/checkpoint.proto.

  ckpt_oracle.py parse FILE        prints JSON: every parameter (adjacent values with the same tag
                                   joined) with its dims, type, piece count, the sha256 of its
                                   content, and whether each piece's CRC-32 field is present and right
  ckpt_oracle.py write SPEC OUT    writes the parameters of a JSON spec
                                   [{"tag", "dims", "type", "hex", "pieces"}] as MindSpore does:
                                   one Checkpoint message per piece, every piece with the full dims
"""
import atexit
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib


def messages():
    here = os.path.dirname(os.path.abspath(__file__))
    out = tempfile.mkdtemp(prefix='ckpt-proto-')
    atexit.register(shutil.rmtree, out, True)
    subprocess.run(['protoc', f'--proto_path={here}', f'--python_out={out}', 'checkpoint.proto'], check=True)
    sys.path.insert(0, out)
    return importlib.import_module('checkpoint_pb2')


def parse(path):
    pb = messages()
    ckpt = pb.Checkpoint()
    with open(path, 'rb') as f:
        ckpt.ParseFromString(f.read())
    params = []
    for v in ckpt.value:
        t = v.tensor
        crc = t.wasmformers_crc32 if t.HasField('wasmformers_crc32') else None
        piece_ok = crc is not None and crc == zlib.crc32(t.tensor_content)
        if params and params[-1]['tag'] == v.tag:
            p = params[-1]
            p['pieces'] += 1
            p['_content'] += t.tensor_content
            p['crc_ok'] = p['crc_ok'] and piece_ok
            continue
        params.append({'tag': v.tag, 'dims': list(t.dims), 'type': t.tensor_type, 'pieces': 1,
                       '_content': t.tensor_content, 'crc_ok': piece_ok})
    for p in params:
        content = p.pop('_content')
        p['bytes'] = len(content)
        p['sha256'] = hashlib.sha256(content).hexdigest()
    print(json.dumps(params))


def write(spec_path, out):
    pb = messages()
    spec = json.load(open(spec_path))
    with open(out, 'wb') as f:
        for p in spec:
            content = bytes.fromhex(p['hex'])
            n = p.get('pieces', 1)
            step = -(-len(content) // n) if content else 0
            for i in range(n):
                ckpt = pb.Checkpoint()
                v = ckpt.value.add()
                v.tag = p['tag']
                v.tensor.dims.extend(p['dims'])
                v.tensor.tensor_type = p['type']
                v.tensor.tensor_content = content[i * step:(i + 1) * step]
                f.write(ckpt.SerializeToString())


if __name__ == '__main__':
    if sys.argv[1] == 'parse':
        parse(sys.argv[2])
    else:
        write(sys.argv[2], sys.argv[3])
