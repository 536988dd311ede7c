# symbolize-work.py - python3 work for BENCH=symbolize: imports every
# extension module of the standard library (one mapping each), parses a
# large module 20 times and encodes 200,000 small dicts, so that a
# --no-symbolize --rate 1 profile of it (PYTHONMALLOC=malloc) has
# thousands of addresses in about 70 mappings.
import os, sys, importlib, sysconfig
d = os.path.join(sysconfig.get_paths()['platstdlib'], 'lib-dynload')
for f in sorted(os.listdir(d)):
    name = f.split('.')[0]
    if name.startswith('_test') or name in ('_tkinter', 'xxlimited', 'xxlimited_35', '_xxsubinterpreters', '_xxinterpchannels'):
        continue
    try:
        importlib.import_module(name)
    except Exception:
        pass
import json, email, http.client, decimal, xml.dom.minidom, sqlite3, asyncio, unittest, argparse, csv, pickle
import collections, dataclasses, typing, inspect, ast, tokenize
src = open(inspect.__file__).read()
for i in range(20):
    ast.parse(src)
print(len(json.dumps([{'a': i, 'b': str(i)} for i in range(200000)])))
