package kernel

import "github.com/govalent/govalent/kernel/display"

// The contents of the messages the kernel reads and sends, as the Jupyter messaging protocol 5.3 names their
// fields (https://jupyter-client.readthedocs.io/en/stable/messaging.html). Requests hold only the fields the
// kernel reads. In what it sends, a field is omitempty only where the spec lets it be absent: the dicts and lists
// the spec requires go out empty ({} and [], never null) rather than missing.

// emptyDict is a dict the spec requires and the kernel never fills (metadata, user_expressions, comms): {}.
type emptyDict struct{}

// Requests.

type executeRequest struct {
	Code         string `json:"code"`
	Silent       bool   `json:"silent"`
	StoreHistory *bool  `json:"store_history"` // absent means true
	AllowStdin   bool   `json:"allow_stdin"`
}

type completeRequest struct {
	Code      string `json:"code"`
	CursorPos int    `json:"cursor_pos"` // in unicode code points
}

// inspectRequest has complete_request's fields; its detail_level is not read.
type inspectRequest completeRequest

type isCompleteRequest struct {
	Code string `json:"code"`
}

type historyRequest struct {
	Output         bool   `json:"output"`
	HistAccessType string `json:"hist_access_type"` // "range", "tail" or "search"
	Start          int    `json:"start"`
	Stop           int    `json:"stop"`
	N              int    `json:"n"`
	Pattern        string `json:"pattern"`
	Unique         bool   `json:"unique"`
}

type commOpen struct {
	CommID string `json:"comm_id"`
}

type shutdownRequest struct {
	Restart bool `json:"restart"`
}

type inputReply struct {
	Value string `json:"value"`
}

// Replies.

type kernelInfoReply struct {
	Status                string       `json:"status"`
	ProtocolVersion       string       `json:"protocol_version"`
	Implementation        string       `json:"implementation"`
	ImplementationVersion string       `json:"implementation_version"`
	LanguageInfo          languageInfo `json:"language_info"`
	Banner                string       `json:"banner"`
	HelpLinks             []helpLink   `json:"help_links"`
}

type languageInfo struct {
	Name           string `json:"name"`
	Version        string `json:"version"`
	MIMEType       string `json:"mimetype"`
	FileExtension  string `json:"file_extension"`
	PygmentsLexer  string `json:"pygments_lexer,omitempty"`  // needed only if it differs from name
	CodeMirrorMode string `json:"codemirror_mode,omitempty"` // needed only if it differs from name
}

type helpLink struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

// executeReplyOK is execute_reply with status "ok".
type executeReplyOK struct {
	Status          string        `json:"status"`
	ExecutionCount  int           `json:"execution_count"`
	Payload         []pagePayload `json:"payload"`
	UserExpressions emptyDict     `json:"user_expressions"`
}

// executeReplyError is execute_reply with status "error".
type executeReplyError struct {
	Status         string `json:"status"`
	ExecutionCount int    `json:"execution_count"`
	errorContent
}

// pagePayload asks the frontend to page text (IPython's `name?`), a payload of execute_reply.
type pagePayload struct {
	Source string         `json:"source"` // "page"
	Data   display.Bundle `json:"data"`
	Start  int            `json:"start"` // the line to start at
}

type completeReply struct {
	Status      string    `json:"status"`
	Matches     []string  `json:"matches"`
	CursorStart int       `json:"cursor_start"`
	CursorEnd   int       `json:"cursor_end"`
	Metadata    emptyDict `json:"metadata"`
}

type inspectReply struct {
	Status   string         `json:"status"`
	Found    bool           `json:"found"`
	Data     display.Bundle `json:"data"` // {} when not found
	Metadata emptyDict      `json:"metadata"`
}

type isCompleteReply struct {
	Status string  `json:"status"`           // "complete", "incomplete" or "invalid"
	Indent *string `json:"indent,omitempty"` // with "incomplete" only, and then even when ""
}

type historyReply struct {
	Status string `json:"status"`
	// (session, line_number, input) tuples, or (session, line_number, (input, output)) when output was asked
	History [][]any `json:"history"`
}

type commInfoReply struct {
	Status string    `json:"status"`
	Comms  emptyDict `json:"comms"` // the kernel opens none
}

// statusReply is a reply with nothing but its status: interrupt_reply.
type statusReply struct {
	Status string `json:"status"`
}

type shutdownReply struct {
	Status  string `json:"status"`
	Restart bool   `json:"restart"`
}

// IOPub and stdin messages the kernel sends.

type kernelStatus struct {
	ExecutionState string `json:"execution_state"` // "starting", "busy" or "idle"
}

type executeInput struct {
	Code           string `json:"code"`
	ExecutionCount int    `json:"execution_count"`
}

type executeResult struct {
	ExecutionCount int            `json:"execution_count"`
	Data           display.Bundle `json:"data"`
	Metadata       emptyDict      `json:"metadata"`
}

// displayData is the content of display_data and of update_display_data.
type displayData struct {
	Data      display.Bundle `json:"data"`
	Metadata  emptyDict      `json:"metadata"`
	Transient transient      `json:"transient"`
}

type transient struct {
	DisplayID string `json:"display_id,omitempty"` // required in update_display_data only
}

type stream struct {
	Name string `json:"name"` // "stdout" or "stderr"
	Text string `json:"text"`
}

// errorContent is the content of an error message and the error fields of a reply with status "error".
type errorContent struct {
	EName     string   `json:"ename"`
	EValue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

type clearOutput struct {
	Wait bool `json:"wait"`
}

type commClose struct {
	CommID string    `json:"comm_id"`
	Data   emptyDict `json:"data"`
}

type inputRequest struct {
	Prompt   string `json:"prompt"`
	Password bool   `json:"password"`
}
