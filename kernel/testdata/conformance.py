"""Jupyter's kernel conformance suite (jupyter_kernel_test) run against the govalent kernel."""
import unittest

import jupyter_kernel_test


class GovalentKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "govalent"
    language_name = "go"
    file_extension = ".go"

    code_hello_world = 'import "fmt"\nfmt.Println("hello, world")'
    code_stderr = 'import ("fmt"; "os")\nfmt.Fprintln(os.Stderr, "oops")'

    completion_samples = [
        {"text": "fm", "matches": {"fmt"}},
        {"text": "strings.Repe", "matches": {"strings.Repeat"}},
        {"text": "ct.DispatchS", "matches": {"ct.DispatchSync"}},
    ]
    complete_code_samples = ['fmt.Println("hi")', "x := 1", "func f() {}"]
    incomplete_code_samples = ["func f() {", "for i := 0; i < 3; i++ {", "x := []int{1,"]
    invalid_code_samples = ["}", "x := )", "func f() { ) }"]

    code_page_something = "fmt.Println?"
    code_generate_error = 'panic("boom")'
    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": '"go" + "valent"', "result": "govalent"},
        {"code": "[]int{1, 2}", "result": "[1 2]"},
    ]
    code_display_data = [
        {"code": 'display.HTML("<b>hi</b>")', "mime": "text/html"},
        {"code": 'display.Markdown("# hi")', "mime": "text/markdown"},
        {"code": 'display.SVG("<svg xmlns=\'http://www.w3.org/2000/svg\'/>")', "mime": "image/svg+xml"},
        {"code": 'import ("image"; "image/color")\n'
                 'img := image.NewRGBA(image.Rect(0, 0, 4, 4))\nimg.Set(1, 1, color.White)\ndisplay.Image(img)',
         "mime": "image/png"},
        {"code": 'display.JSON(map[string]int{"a": 1})', "mime": "application/json"},
    ]
    code_history_pattern = "1 + *"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "fmt.Println"
    code_clear_output = "display.ClearOutput(false)"


if __name__ == "__main__":
    unittest.main(verbosity=2)
