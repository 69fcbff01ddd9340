"""The Jupyter kernel conformance suite (jupyter_kernel_test.KernelTests) against the gradlab kernel.

Every test of the suite is enabled by a sample below; none should be skipped.

Run it (test/kernel-conformance.test.ts does this with a temporary JUPYTER_PATH):

    npm run build
    npm run kernel:install -- --python=/usr/bin/python3      # or point JUPYTER_PATH at a kernelspec
    cd <repository root> && /usr/bin/python3 -m unittest discover -v -s test/conformance

With `--json <file>` (python3 test/conformance/test_gradlab_kernel.py --json out.json) the
outcome of every test and subtest is also written as JSON: [{"id", "outcome", "detail"}].
The kernel starts in the current directory, which must see node_modules/gradlab.
"""

import json
import sys
import unittest

import jupyter_kernel_test as jkt


class GradlabKernelTests(jkt.KernelTests):
    kernel_name = "gradlab"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = "console.log('hello, world')"
    code_stderr = "console.error('a warning')"

    completion_samples = [
        {"text": "Math.ma", "matches": ["max"]},
        {"text": "const abcdefg = 1;\nabcde", "matches": ["abcdefg"]},
    ]

    complete_code_samples = ["1 + 1", "const x = 1;", "function f() { return 1; }", "Math.max?"]
    incomplete_code_samples = ["function f() {", "const a = [1, 2,", "if (true) {\n  console.log(1);", "`an open template"]
    invalid_code_samples = ["1 + )", "const = 5;", "}"]

    # `name?` shows the type and documentation of `name` in the pager, as IPython does.
    code_page_something = "Math.max?"

    code_generate_error = "throw new Error('boom')"

    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": "'a' + 'b'", "result": "'ab'"},
        {"code": "[1, 2, 3].map((x) => x * 2)", "result": "[ 2, 4, 6 ]"},
        # An object that offers a MIME bundle (Deno's convention) renders as that bundle.
        {
            "code": "({ [Symbol.for('Jupyter.display')]: () => ({ 'text/html': '<b>rich</b>', 'text/plain': 'rich' }) })",
            "mime": "text/html",
        },
        # A tensor renders as HTML (shape, dtype, backend, values).
        {
            "code": "import * as gl from 'gradlab';\nawait gl.init({ backend: 'cpu' });\ngl.tf.tensor([1, 2, 3])",
            "mime": "text/html",
        },
    ]

    # A glob over whole cells (IPython's history search): matches "1 + 2" only.
    code_history_pattern = "1 ? 2"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Math.max"

    code_clear_output = "import { clearOutput } from 'gradlab';\nclearOutput();"

    code_display_data = [
        {
            "code": "import { display } from 'gradlab';\n"
            "await display({ [Symbol.for('Jupyter.display')]: () => ({ 'text/html': '<b>hi</b>', 'text/plain': 'hi' }) });",
            "mime": "text/html",
        },
        # tslab's own display API keeps working in the gradlab kernel.
        {"code": "import * as tslab from 'tslab';\ntslab.display.html('<b>hi</b>');", "mime": "text/html"},
    ]


class _JsonResult(unittest.TextTestResult):
    """A text result that also records every test and subtest outcome."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = []

    def _record(self, test, outcome, detail=""):
        self.records.append({"id": test.id() if hasattr(test, "id") else str(test), "outcome": outcome, "detail": detail})

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failed", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "failed" if issubclass(err[0], test.failureException) else "error"
            self._record(subtest, kind, self._exc_info_to_string(err, test))


if __name__ == "__main__":
    out = None
    if "--json" in sys.argv:
        out = sys.argv[sys.argv.index("--json") + 1]
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(GradlabKernelTests)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_JsonResult)
    result = runner.run(suite)
    if out:
        with open(out, "w") as f:
            json.dump({"testsRun": result.testsRun, "records": result.records}, f, indent=1)
    sys.exit(0 if result.wasSuccessful() else 1)
