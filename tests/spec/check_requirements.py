#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Checks that the tests prove every requirement of docs/requirements.md.

Usage: check_requirements.py REQUIREMENTS_MD TESTS_DIR

Fails, listing every problem, when a requirement of the table is proved by
no test, when a C file under TESTS_DIR names an R-number that is not in the
table, or when a test names a requirement without asserting it. The
conventions (a test function named ..._Rn, or a comment tag next to an
assertion inside one) are described in docs/requirements.md.
"""

import os
import re
import sys

ROW = re.compile(r'^\|\s*(R\d+)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*$')
MENTION = re.compile(r'(?<![A-Za-z0-9_])R(\d+)(?![A-Za-z0-9])')
NAME_TAG = re.compile(r'_R(\d+)(?=_|$)')
IDENT = re.compile(r'[A-Za-z_]\w*')
TEST_FN = re.compile(
    r'\bvoid\s+(\w+)\s*\(\s*void\s*\*\s*\*\s*\w*\s*\)\s*\{')
REGISTERED = re.compile(r'\bcmocka_unit_test\w*\s*\(\s*(\w+)')
ASSERTION = re.compile(r'\bassert_\w+\s*\(')


def read_table(path):
    """Rows of the table: {number: (section, sentence)}, and problems."""
    rows, problems = {}, []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            m = ROW.match(line)
            if not m:
                continue
            number = int(m.group(1)[1:])
            if number in rows:
                problems.append(f'{path}:{lineno}: R{number} is listed twice')
            elif not m.group(2) or not m.group(3):
                problems.append(f'{path}:{lineno}: R{number} needs a section '
                                'and a sentence')
            rows[number] = (m.group(2), m.group(3))
    if not rows:
        problems.append(f'{path}: no requirement rows (| Rn | section | '
                        'sentence |)')
    return rows, problems


def split_source(text):
    """The code with comments and literals blanked (offsets and newlines
    kept), and the comments as (start, end, text)."""
    code, comments = list(text), []
    i, n = 0, len(text)
    while i < n:
        if text.startswith('/*', i):
            end = text.find('*/', i + 2)
            end = n if end < 0 else end + 2
        elif text.startswith('//', i):
            end = text.find('\n', i)
            end = n if end < 0 else end
        elif text[i] in '"\'':
            end = i + 1
            while end < n and text[end] != text[i] and text[end] != '\n':
                end += 2 if text[end] == '\\' else 1
            end = min(end + 1, n)
            for k in range(i + 1, end - 1):
                if code[k] != '\n':
                    code[k] = ' '
            i = end
            continue
        else:
            i += 1
            continue
        comments.append((i, end, text[i:end]))
        for k in range(i, end):
            if code[k] != '\n':
                code[k] = ' '
        i = end
    return ''.join(code), comments


def matching(code, open_at, opening, closing):
    """Offset just past the bracket that closes the one at open_at."""
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == opening:
            depth += 1
        elif code[k] == closing:
            depth -= 1
            if depth == 0:
                return k + 1
    return len(code)


class Source:
    def __init__(self, path, text):
        self.path = path
        self.code, self.comments = split_source(text)
        self.line_starts = [0] + [m.end() for m in re.finditer('\n', text)]
        self.registered = set(REGISTERED.findall(self.code))
        # Lines on which an assertion is written, from its name to its ')'.
        self.assertion_lines = set()
        self.assertion_starts = set()
        for m in ASSERTION.finditer(self.code):
            end = matching(self.code, m.end() - 1, '(', ')')
            first, last = self.line(m.start()), self.line(end - 1)
            self.assertion_starts.add(first)
            self.assertion_lines.update(range(first, last + 1))
        self.tests = []  # (name, body start, body end, line)
        for m in TEST_FN.finditer(self.code):
            end = matching(self.code, m.end() - 1, '{', '}')
            self.tests.append((m.group(1), m.end(), end, self.line(m.start())))

    def line(self, offset):
        lo, hi = 0, len(self.line_starts)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid
        return lo + 1

    def next_code_line(self, offset):
        """The first line after offset's line that holds code."""
        for k in range(self.line(offset), len(self.line_starts)):
            start = self.line_starts[k]
            end = (self.line_starts[k + 1] if k + 1 < len(self.line_starts)
                   else len(self.code))
            if self.code[start:end].strip():
                return k + 1
        return None

    def test_at(self, offset):
        for test in self.tests:
            if test[1] <= offset < test[2]:
                return test
        return None


def check_source(src, table, proofs, problems, where):

    def mention(number, offset):
        if number not in table:
            problems.append(f'{where}:{src.line(offset)}: R{number} is not '
                            'in the requirements table')

    for m in IDENT.finditer(src.code):
        for tag in NAME_TAG.finditer(m.group(0)):
            mention(int(tag.group(1)), m.start())

    for name, start, end, lineno in src.tests:
        numbers = [int(t) for t in NAME_TAG.findall(name)]
        if not numbers:
            continue
        proof = f'{where}:{lineno} {name}'
        if name not in src.registered:
            problems.append(f'{proof}: never registered with '
                            'cmocka_unit_test(), so it never runs')
        elif not ASSERTION.search(src.code, start, end):
            problems.append(f'{proof}: named after '
                            f'{", ".join(f"R{n}" for n in numbers)} but '
                            'asserts nothing')
        else:
            for number in numbers:
                proofs.setdefault(number, {})[proof] = True

    for start, end, text in src.comments:
        numbers = [(int(m.group(1)), start + m.start())
                   for m in MENTION.finditer(text)]
        if not numbers:
            continue
        for number, offset in numbers:
            mention(number, offset)
        test = src.test_at(start)
        if test is None:
            continue  # a mention outside a test proves nothing
        first, last = src.line(start), src.line(end - 1)
        tags = ", ".join(f"R{n}" for n, _ in numbers)
        proof = f'{where}:{test[3]} {test[0]}'
        beside = (first in src.assertion_lines or
                  last in src.assertion_lines or
                  src.next_code_line(end - 1) in src.assertion_starts)
        if test[0] not in src.registered:
            problems.append(f'{proof}: tag {tags} in a test never registered '
                            'with cmocka_unit_test()')
        elif not beside:
            problems.append(f'{where}:{first} {test[0]}: tag {tags} labels '
                            'no assertion (put it on the line of an '
                            'assertion or right above one)')
        else:
            for number, _ in numbers:
                proofs.setdefault(number, {})[proof] = True


def check(table_path, tests_dir):
    table, problems = read_table(table_path)
    proofs = {}
    for root, dirs, files in os.walk(tests_dir):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(('.c', '.h')):
                path = os.path.join(root, name)
                with open(path, encoding='utf-8') as f:
                    src = Source(path, f.read())
                where = os.path.relpath(path, os.path.dirname(tests_dir))
                check_source(src, table, proofs, problems, where)
    for number in sorted(table):
        if number not in proofs:
            section, sentence = table[number]
            problems.append(f'R{number} ({section}: {sentence}) is proved '
                            'by no test')
    return table, proofs, problems


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    table, proofs, problems = check(argv[1], argv[2])
    if problems:
        print(f'{len(problems)} problem(s) with the requirements and their '
              'tests:')
        for p in problems:
            print('  ' + p)
        return 1
    for number in sorted(table):
        print(f'R{number}: ' + '; '.join(proofs[number]))
    print(f'all {len(table)} requirements are proved')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
