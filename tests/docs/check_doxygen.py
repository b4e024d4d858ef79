#!/usr/bin/env python3
"""Build the API reference with every Doxygen warning an error (ctest -L docs).

Usage: check_doxygen.py --doxygen EXE --doxyfile FILE --out DIR

Runs Doxygen on the project's configured Doxyfile (docs/Doxyfile.in) with
the output redirected to DIR (so the test never races the `docs` target)
and these settings forced: WARN_AS_ERROR=FAIL_ON_WARNINGS, every warning
to DIR/warnings.log, HTML and XML output, no man pages. Fails when Doxygen
fails or warns: an undocumented function, structure, field, macro, type or
parameter, an undocumented return value, or a malformed comment.

Doxygen 1.9.4 does not warn about undocumented enumerators, so the XML
output is checked as well: every member of every header and structure,
enumerators included, must carry a description. Each header must also
have a file comment with a brief, an overview and a code example.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET


def described(elem):
    for tag in ("briefdescription", "detaileddescription"):
        d = elem.find(tag)
        if d is not None and "".join(d.itertext()).strip():
            return True
    return False


def where(elem):
    loc = elem.find("location")
    if loc is None:
        return "?"
    return loc.get("file") if loc.get("line") is None else f"{loc.get('file')}:{loc.get('line')}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--doxygen", required=True)
    ap.add_argument("--doxyfile", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    log = os.path.join(a.out, "warnings.log")
    with open(a.doxyfile, encoding="utf-8") as f:
        config = f.read()
    # Later assignments win: redirect the output and force the strict mode.
    config += "\n".join([
        "",
        f'OUTPUT_DIRECTORY = "{a.out}"',
        "WARN_AS_ERROR = FAIL_ON_WARNINGS",
        f'WARN_LOGFILE = "{log}"',
        "QUIET = YES",
        "GENERATE_HTML = YES",
        "GENERATE_XML = YES",
        "XML_OUTPUT = xml",
        "GENERATE_MAN = NO",
        ""])
    r = subprocess.run([a.doxygen, "-"], input=config.encode(), cwd=a.out)
    with open(log, encoding="utf-8", errors="replace") as f:
        warnings = [line for line in f.read().splitlines() if line.strip()]
    for w in warnings:
        print(w)
    problems = []
    if r.returncode != 0:
        problems.append(f"doxygen exited with status {r.returncode}")
    if warnings:
        problems.append(f"doxygen printed {len(warnings)} warning lines")

    n_members = n_files = 0
    for path in sorted(glob.glob(os.path.join(a.out, "xml", "*.xml"))):
        root = ET.parse(path).getroot()
        for cd in root.iter("compounddef"):
            kind = cd.get("kind")
            if kind not in ("file", "struct", "union"):
                continue
            name = cd.findtext("compoundname")
            if kind == "file":
                n_files += 1
                if not "".join(cd.find("briefdescription").itertext()).strip():
                    problems.append(f"{where(cd)}: {name}: @file comment has no @brief")
                det = cd.find("detaileddescription")
                if det is None or det.find(".//programlisting") is None:
                    problems.append(f"{where(cd)}: {name}: @file comment has no "
                                    "usage example (@code)")
            for m in cd.iter("memberdef"):
                n_members += 1
                if not described(m):
                    problems.append(f"{where(m)}: {m.get('kind')} {m.findtext('name')} "
                                    f"of {name} is not documented")
                for v in m.findall("enumvalue"):
                    n_members += 1
                    if not described(v):
                        problems.append(f"{where(m)}: enumerator {v.findtext('name')} "
                                        f"of {m.findtext('name')} is not documented")
    if n_files == 0:
        problems.append("doxygen documented no header at all")
    for p in problems:
        print(p)
    if problems:
        print(f"FAIL: {len(problems)} problem(s)")
        return 1
    print(f"OK: {n_files} headers, {n_members} documented members (enumerators "
          f"included), no Doxygen warning; HTML in {os.path.join(a.out, 'html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
