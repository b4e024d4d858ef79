#!/usr/bin/env python3
"""Every public function has an installed man page (ctest -L docs).

Usage: check_man.py --include DIR --mandir DIR
                    [--install-cmd CMD... --] 

Counts the functions the public headers declare (include/capdrv/**/*.h:
every `capdrv_<name>(` at file scope, outside comments, preprocessor lines
and the C++-only parts; static inline functions count too) and checks that
MANDIR/man3/capdrv_<name>.3 exists and is the page of that function. With
--install-cmd, CMD is run first (the ctest runs `cmake --install <build>
--component docs --prefix <scratch>`), so what is checked is what
`cmake --install` puts there. Also checks that every header has its page
(man3/capdrv_<path>.h.3) and that no function page is left over from a
function that no longer exists. Prints every missing page.
"""
import argparse
import os
import re
import subprocess
import sys


def strip_comments_and_strings(text):
    """C source with comments removed and string/char literals emptied."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j) or " ")
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def c_lines(text):
    """Lines a C (not C++) compiler sees, preprocessor lines removed.

    Only `#ifdef __cplusplus` / `#if defined(__cplusplus)` is evaluated (its
    branch dropped, its #else kept); every other conditional keeps all its
    branches, which is harmless for finding declarations.
    """
    lines = text.split("\n")
    # Join continuation lines.
    joined, cur = [], ""
    for line in lines:
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        joined.append(cur + line)
        cur = ""
    out, stack = [], []  # stack: True when the current branch is skipped
    for line in joined:
        s = line.strip()
        if s.startswith("#"):
            d = s[1:].strip()
            if re.match(r"if(n?def|\b)", d):
                stack.append(bool(re.match(r"(ifdef\s+__cplusplus|if\s+defined\s*\(?\s*__cplusplus)",
                                           d)))
            elif d.startswith("else") or d.startswith("elif"):
                if stack:
                    stack[-1] = False
            elif d.startswith("endif"):
                if stack:
                    stack.pop()
            continue
        out.append("" if any(stack) else line)
    return "\n".join(out)


def declared_functions(path):
    """Names of capdrv_* functions declared or defined at file scope."""
    with open(path, encoding="utf-8") as f:
        code = c_lines(strip_comments_and_strings(f.read()))
    names, brace, paren = [], 0, 0
    for m in re.finditer(r"[{}()]|\bcapdrv_\w+(?=\s*\()", code):
        t = m.group(0)
        if t == "{":
            brace += 1
        elif t == "}":
            brace -= 1
        elif t == "(":
            paren += 1
        elif t == ")":
            paren -= 1
        elif brace == 0 and paren == 0:
            names.append(t)
    return names


def headers(include):
    out = []
    for root, _, files in os.walk(os.path.join(include, "capdrv")):
        for fn in files:
            if fn.endswith(".h"):
                out.append(os.path.relpath(os.path.join(root, fn), include))
    return sorted(out)


def page_name(path):
    """The function a man page documents, from its .TH line."""
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    m = re.match(r'\.TH\s+"?([^"\s]+)"?\s+3\b', first)
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--include", required=True)
    ap.add_argument("--mandir", required=True)
    ap.add_argument("--install-cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()

    if a.install_cmd:
        cmd = a.install_cmd[:-1] if a.install_cmd[-1:] == ["--"] else a.install_cmd
        print(" ".join(cmd))
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            print("error: the install command failed")
            return 1

    funcs = {}
    for h in headers(a.include):
        for name in declared_functions(os.path.join(a.include, h)):
            funcs.setdefault(name, h)
    man3 = os.path.join(a.mandir, "man3")
    missing, wrong = [], []
    for name, h in sorted(funcs.items()):
        p = os.path.join(man3, name + ".3")
        if not os.path.isfile(p):
            missing.append(f"{name} ({h})")
        elif page_name(p) != name:
            wrong.append(f"{p}: .TH names {page_name(p)!r}, not {name!r}")
    hdr_missing = [h for h in headers(a.include)
                   if not os.path.isfile(os.path.join(man3, h.replace("/", "_") + ".3"))]
    installed = set()
    if os.path.isdir(man3):
        installed = {fn[:-2] for fn in os.listdir(man3)
                     if fn.endswith(".3") and not fn.endswith(".h.3")}
    stale = sorted(installed - set(funcs))

    nh = len(headers(a.include))
    print(f"{len(funcs)} public functions declared in {nh} headers under {a.include}/capdrv")
    print(f"{len(installed)} function man pages in {man3}")
    for m in missing:
        print(f"missing man page: capdrv function {m}")
    for w in wrong:
        print(f"wrong man page: {w}")
    for h in hdr_missing:
        print(f"missing man page: header {h} ({h.replace('/', '_')}.3)")
    for s in stale:
        print(f"stale man page: {s}.3 (no such function in the headers)")
    if missing or wrong or hdr_missing or stale or not funcs:
        print(f"FAIL: {len(missing)} functions without a man page, {len(wrong)} wrong, "
              f"{len(hdr_missing)} headers without one, {len(stale)} stale")
        return 1
    print(f"OK: all {len(funcs)} public functions and {nh} headers have a man page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
