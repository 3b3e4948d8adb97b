#!/usr/bin/env python3
"""layers.py - checks meshcert's layering (../shared/design/ARCHITECTURE.md).

1. Each folder of src/ includes only the layers below it (the arrows of the
   architecture picture).
2. Inside each folder, no #include cycle between files (x.c and x.h are
   separate nodes).
3. Inside src/server/ (ARCHITECTURE.md: "keep it layered inside ... with no
   cycle"), src/pki/ and src/issuer/, no call cycle between .c files: a call
   counts when a file calls a function another file of the folder defines
   (not static: an mc_* export or a folder-internal helper such as issuer's
   queue_object). Elsewhere a call cycle is printed as a note.
Prints what it finds; exit status 1 when a rule is broken. Run from anywhere:
    python3 scripts/layers.py [--graph FOLDER]
"""
import glob
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src')

# Folders where a call cycle between files is an error, not a note.
NO_CALL_CYCLES = {'server', 'pki', 'issuer'}

# What each layer may include besides itself.
ALLOWED = {
    'util': set(),
    'pki': {'util'},
    'api': {'util'},
    'kube': {'api', 'util'},
    'runtime': {'kube', 'api', 'util'},
    'agent': {'runtime', 'kube', 'api', 'pki', 'util'},
    'issuer': {'runtime', 'kube', 'api', 'pki', 'util'},
    'server': {'api', 'pki', 'util'},
    'cli': {'agent', 'issuer', 'server', 'runtime', 'kube', 'api', 'pki', 'util'},
}

COMMENTS = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"', re.S)


def files_of(folder):
    return sorted(glob.glob(os.path.join(ROOT, folder, '*.[ch]')))


def includes(path):
    return re.findall(r'^#include "(\w+)/(\w+)\.h"', open(path).read(), re.M)


def cycles(graph):
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
    return sorted(node for node in graph if node in reach(node))


def call_graph(folder):
    defined, texts = {}, {}
    for path in files_of(folder):
        if not path.endswith('.c'):
            continue
        name = os.path.basename(path)
        texts[name] = COMMENTS.sub('', open(path).read())
        for m in re.finditer(r'^(?!static\b)[a-z][\w \*]*?\b([a-z_]\w*)\s*\([^;{]*\)\s*\{', texts[name], re.M):
            defined[m.group(1)] = name
    graph = {}
    for name, text in texts.items():
        for called in set(re.findall(r'\b([a-z_]\w*)\s*\(', text)):
            owner = defined.get(called)
            if owner and owner != name:
                graph.setdefault(name, {}).setdefault(owner, set()).add(called)
    return graph


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--graph':
        for src, dsts in sorted(call_graph(sys.argv[2]).items()):
            for dst, names in sorted(dsts.items()):
                print(f'{src} -> {dst}: {" ".join(sorted(names))}')
        return 0
    broken = 0
    for folder, allowed in ALLOWED.items():
        include_graph = {}
        for path in files_of(folder):
            name = os.path.basename(path)
            include_graph[name] = set()
            for layer, header in includes(path):
                if layer == folder:
                    if header + '.h' != name:
                        include_graph[name].add(header + '.h')
                elif layer not in allowed:
                    print(f'src/{folder}/{name}: includes {layer}/{header}.h, a layer it may not use')
                    broken = 1
        for name in cycles(include_graph):
            print(f'src/{folder}/{name}: in an #include cycle inside src/{folder}/')
            broken = 1
        for name in cycles(call_graph(folder)):
            strict = folder in NO_CALL_CYCLES
            print(f'{"" if strict else "note: "}src/{folder}/{name}: in a call cycle inside '
                  f'src/{folder}/ (python3 scripts/layers.py --graph {folder})')
            broken |= strict
    if not broken:
        print('layers: every folder uses only the layers below it; no include cycle; '
              'no call cycle in ' + ', '.join(sorted(NO_CALL_CYCLES)))
    return broken


if __name__ == '__main__':
    sys.exit(main())
