package kernel

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// wantBody checks a message's content against want, a JSON object with the exact keys the content must have:
// "*" stands for any value, anything else must be equal. Empty objects and lists the spec requires are spelled
// out, so a field that must be present even when empty cannot go missing.
func wantBody(t *testing.T, label string, m *Message, msgType, want string) {
	t.Helper()
	if m == nil {
		t.Errorf("%s: no %s", label, msgType)
		return
	}
	if m.Header.MsgType != msgType {
		t.Errorf("%s: got a %s, want a %s", label, m.Header.MsgType, msgType)
		return
	}
	var got, w map[string]any
	if err := json.Unmarshal(m.Content, &got); err != nil {
		t.Errorf("%s: content %s: %v", label, m.Content, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want %s: %v", label, want, err)
	}
	gotKeys, wantKeys := sortedKeys(got), sortedKeys(w)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("%s: %s has fields %v, want %v (content %s)", label, msgType, gotKeys, wantKeys, m.Content)
	}
	for k, v := range w {
		if v != "*" && !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s: %s.%s = %#v, want %#v", label, msgType, k, got[k], v)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// find returns the first message of a type, or nil.
func find(msgs []*Message, msgType string) *Message {
	for _, m := range msgs {
		if m.Header.MsgType == msgType {
			return m
		}
	}
	return nil
}

// Every message body the kernel sends has the fields of the messaging spec 5.3, under their names, with the
// ones the spec requires present even when empty.
func TestMessageBodiesHaveTheSpecFields(t *testing.T) {
	_, c := startTestKernel(t)
	ask := func(msgType string, content any) *Message {
		t.Helper()
		c.request(c.shell, msgType, content)
		m := c.reply(c.shell, 30*time.Second)
		c.drainUntilIdle(5 * time.Second)
		return m
	}

	info := ask("kernel_info_request", map[string]any{})
	wantBody(t, "kernel_info", info, "kernel_info_reply", `{"status": "ok", "protocol_version": "5.3",
		"implementation": "govalent", "implementation_version": "*", "language_info": "*", "banner": "*",
		"help_links": [{"text": "govalent", "url": "https://github.com/govalent/govalent"}, {"text": "Go", "url": "https://go.dev/doc/"}]}`)
	if info != nil {
		var ki struct {
			LanguageInfo json.RawMessage `json:"language_info"`
		}
		json.Unmarshal(info.Content, &ki)
		wantBody(t, "language_info", &Message{Header: Header{MsgType: "-"}, Content: ki.LanguageInfo}, "-",
			`{"name": "go", "version": "*", "mimetype": "text/x-go", "file_extension": ".go", "pygments_lexer": "go", "codemirror_mode": "go"}`)
	}

	rep, out := c.execute("1 + 2", false)
	wantBody(t, "result", rep, "execute_reply", `{"status": "ok", "execution_count": 1, "payload": [], "user_expressions": {}}`)
	wantBody(t, "result", out[0], "status", `{"execution_state": "busy"}`)
	wantBody(t, "result", find(out, "execute_input"), "execute_input", `{"code": "1 + 2", "execution_count": 1}`)
	wantBody(t, "result", find(out, "execute_result"), "execute_result", `{"execution_count": 1, "data": {"text/plain": "3"}, "metadata": {}}`)
	wantBody(t, "result", out[len(out)-1], "status", `{"execution_state": "idle"}`)

	_, out = c.execute(`import "fmt"`+"\n"+`fmt.Print("hi")`, false)
	wantBody(t, "stream", find(out, "stream"), "stream", `{"name": "stdout", "text": "hi"}`)

	rep, out = c.execute("undefinedThing", false)
	wantBody(t, "error", rep, "execute_reply", `{"status": "error", "execution_count": 3, "ename": "CompileError", "evalue": "*", "traceback": "*"}`)
	wantBody(t, "error", find(out, "error"), "error", `{"ename": "CompileError", "evalue": "*", "traceback": "*"}`)

	rep, _ = c.execute("fmt.Println?", false)
	wantBody(t, "page", rep, "execute_reply", `{"status": "ok", "execution_count": 4, "payload": "*", "user_expressions": {}}`)
	if rep != nil {
		var r struct {
			Payload []json.RawMessage `json:"payload"`
		}
		json.Unmarshal(rep.Content, &r)
		if len(r.Payload) != 1 {
			t.Fatalf("page: payload %s", rep.Content)
		}
		wantBody(t, "page", &Message{Header: Header{MsgType: "-"}, Content: r.Payload[0]}, "-", `{"source": "page", "data": "*", "start": 0}`)
	}

	_, out = c.execute(`display.HTML("<b>x</b>")`, false)
	wantBody(t, "display", find(out, "display_data"), "display_data", `{"data": {"text/html": "<b>x</b>", "text/plain": "<b>x</b>"}, "metadata": {}, "transient": {}}`)
	_, out = c.execute(`display.DisplayWithID("d1", "a")`+"\n"+`display.Update("d1", "b")`+"\n"+`display.ClearOutput(true)`, false)
	wantBody(t, "display id", find(out, "display_data"), "display_data", `{"data": {"text/plain": "a"}, "metadata": {}, "transient": {"display_id": "d1"}}`)
	wantBody(t, "update", find(out, "update_display_data"), "update_display_data", `{"data": {"text/plain": "b"}, "metadata": {}, "transient": {"display_id": "d1"}}`)
	wantBody(t, "clear", find(out, "clear_output"), "clear_output", `{"wait": true}`)

	wantBody(t, "incomplete", ask("is_complete_request", map[string]any{"code": "func f() {"}), "is_complete_reply", `{"status": "incomplete", "indent": "\t"}`)
	wantBody(t, "complete", ask("is_complete_request", map[string]any{"code": "x := 1"}), "is_complete_reply", `{"status": "complete"}`)

	wantBody(t, "completion", ask("complete_request", map[string]any{"code": "strings.Repe", "cursor_pos": 12}), "complete_reply",
		`{"status": "ok", "matches": ["strings.Repeat"], "cursor_start": 0, "cursor_end": 12, "metadata": {}}`)
	wantBody(t, "no completion", ask("complete_request", map[string]any{"code": "zzzq", "cursor_pos": 4}), "complete_reply",
		`{"status": "ok", "matches": [], "cursor_start": "*", "cursor_end": "*", "metadata": {}}`)

	m := ask("inspect_request", map[string]any{"code": "strings.Repeat", "cursor_pos": 14, "detail_level": 0})
	wantBody(t, "inspect", m, "inspect_reply", `{"status": "ok", "found": true, "data": "*", "metadata": {}}`)
	if m != nil && !strings.Contains(string(m.Content), `"text/plain":"func strings.Repeat`) {
		t.Errorf("inspect: %s", m.Content)
	}
	wantBody(t, "inspect nothing", ask("inspect_request", map[string]any{"code": "zzzq", "cursor_pos": 4, "detail_level": 0}), "inspect_reply",
		`{"status": "ok", "found": false, "data": {}, "metadata": {}}`)

	wantBody(t, "history", ask("history_request", map[string]any{"hist_access_type": "tail", "n": 1, "output": true, "raw": true}), "history_reply",
		`{"status": "ok", "history": [[0, 6, ["display.DisplayWithID(\"d1\", \"a\")\ndisplay.Update(\"d1\", \"b\")\ndisplay.ClearOutput(true)", ""]]]}`)
	wantBody(t, "history search", ask("history_request", map[string]any{"hist_access_type": "search", "pattern": "1 + *", "output": false, "raw": true}), "history_reply",
		`{"status": "ok", "history": [[0, 1, "1 + 2"]]}`)

	wantBody(t, "comm_info", ask("comm_info_request", map[string]any{}), "comm_info_reply", `{"status": "ok", "comms": {}}`)
	c.request(c.shell, "comm_open", map[string]any{"comm_id": "c1", "target_name": "nothing", "data": map[string]any{}})
	wantBody(t, "comm_open", find(c.drainUntilIdle(5*time.Second), "comm_close"), "comm_close", `{"comm_id": "c1", "data": {}}`)

	wantBody(t, "bad request", ask("execute_request", map[string]any{"code": 5}), "execute_reply",
		`{"status": "error", "ename": "BadRequest", "evalue": "*", "traceback": [], "execution_count": 6}`)

	c.request(c.shell, "execute_request", map[string]any{"code": "import \"fmt\"\nvar s string\nfmt.Scanln(&s)", "allow_stdin": true})
	wantBody(t, "stdin", c.reply(c.stdin, 30*time.Second), "input_request", `{"prompt": "", "password": false}`)
	c.request(c.stdin, "input_reply", map[string]any{"value": "x"})
	c.reply(c.shell, 30*time.Second)
	c.drainUntilIdle(5 * time.Second)

	c.request(c.control, "interrupt_request", map[string]any{})
	wantBody(t, "interrupt", c.reply(c.control, 10*time.Second), "interrupt_reply", `{"status": "ok"}`)
	c.request(c.control, "shutdown_request", map[string]any{"restart": true})
	wantBody(t, "shutdown", c.reply(c.control, 10*time.Second), "shutdown_reply", `{"status": "ok", "restart": true}`)
}
