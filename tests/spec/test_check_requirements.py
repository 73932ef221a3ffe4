#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""check_requirements.py against small trees made here, one per rule: it
must accept the conventions and reject each way of breaking them. TAP
output, one case per rule."""

import os
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_requirements  # noqa: E402

TABLE = '''| R | Section | Requirement |
|---|---------|-------------|
| R1 | MAP | first. |
| R2 | MAP | second. |
| R3 | MAP | third. |
'''

PROVES_ALL = '''/* Proves R1-R3. */
static void test_one_R1(void **state)
{
    assert_int_equal(1, 1);
}

static void test_two(void **state)
{
    int x = 0;
    /* R2: above an assertion */
    assert_int_equal(x,
                     0);
    assert_true(x == 0 ||
                x == 1); /* R3 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_R1),
        cmocka_unit_test_teardown(test_two, NULL),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
'''


def problems(files, table=TABLE):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, 'requirements.md'), 'w') as f:
            f.write(table)
        os.mkdir(os.path.join(d, 'tests'))
        for name, text in files.items():
            with open(os.path.join(d, 'tests', name), 'w') as f:
                f.write(text)
        return check_requirements.check(os.path.join(d, 'requirements.md'),
                                        os.path.join(d, 'tests'))[2]


def expect(found, n, *words):
    """n problems found, one of them with all the words."""
    assert len(found) == n, found
    assert any(all(w in p for w in words) for p in found), (words, found)


def test_conventions_accepted():
    assert problems({'t.c': PROVES_ALL}) == []


def test_requirement_without_proof():
    text = PROVES_ALL.replace('/* R3 */', '')
    expect(problems({'t.c': text}), 1, 'R3 (MAP: third.)', 'proved by no')


def test_unknown_number():
    text = PROVES_ALL + '/* A helper for R4. */\n'
    expect(problems({'t.c': text}), 1, 't.c:25: R4', 'not in the')
    text = PROVES_ALL.replace('test_one_R1', 'test_one_R1_R7')
    # Where the test is defined and where it is registered.
    expect(problems({'t.c': text}), 2, 't.c:2: R7', 'not in the')


def test_tag_that_labels_no_assertion():
    text = PROVES_ALL.replace('int x = 0;', '/* R1 */\n    int x = 0;')
    expect(problems({'t.c': text}), 1, 'test_two', 'R1', 'labels no')


def test_named_test_that_asserts_nothing():
    text = PROVES_ALL.replace('assert_int_equal(1, 1);', 'return;')
    expect(problems({'t.c': text}), 2, 'test_one_R1', 'asserts nothing')
    # An assertion in a comment or a string is none.
    text = PROVES_ALL.replace('assert_int_equal(1, 1);',
                              '/* assert_true(1); */ puts("assert_true(");')
    expect(problems({'t.c': text}), 2, 'test_one_R1', 'asserts nothing')


def test_test_never_registered():
    text = PROVES_ALL.replace('cmocka_unit_test(test_one_R1),', '')
    expect(problems({'t.c': text}), 2, 'test_one_R1', 'never registered')


def test_mentions_outside_tests_prove_nothing():
    text = PROVES_ALL.replace('/* R3 */', '') + 'static void f(void)\n{\n' \
        '    assert_true(1); /* R3 */\n}\n'
    expect(problems({'t.c': text}), 1, 'R3 (MAP', 'proved by no')


def test_bad_table():
    found = problems({'t.c': PROVES_ALL}, TABLE + '| R2 | MAP | again. |\n')
    expect(found, 1, 'R2 is listed twice')
    found = problems({'t.c': PROVES_ALL}, '')
    assert any('no requirement rows' in p for p in found), found


def main():
    cases = [(n, f) for n, f in sorted(globals().items())
             if n.startswith('test_') and callable(f)]
    print(f'1..{len(cases)}')
    failed = 0
    for i, (name, case) in enumerate(cases, 1):
        try:
            case()
            print(f'ok {i} - {name}')
        except AssertionError as e:
            failed += 1
            print(f'not ok {i} - {name}')
            print(f'# {e!r}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
