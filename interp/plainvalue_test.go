package interp

import "testing"

// encoding/json encodes values of a cell's interface type inside others as Go does (it gave {}), and a type that
// refers to itself at least without a panic.
func TestJSONOfCellInterfaceValues(t *testing.T) {
	expectCells(t, []string{
		"import (\"encoding/json\"; \"fmt\"; \"strings\")\ntype Shape interface{ Area() float64 }\n" +
			"type Sq struct {\n\tS    float64 `json:\"side\"`\n\tnote string\n}\nfunc (s Sq) Area() float64 { return s.S * s.S }\n" +
			"type Holder struct {\n\tName   string\n\tSh     Shape\n\tShapes map[string]Shape `json:\"shapes,omitempty\"`\n}\n" +
			"type Node struct {\n\tV    Shape\n\tNext *Node\n}",
		`b, err := json.Marshal([]Shape{Sq{S: 2}, nil, &Sq{S: 3, note: "n"}})
fmt.Println(string(b), err)
b, _ = json.Marshal(Holder{Name: "h", Sh: Sq{S: 5}, Shapes: map[string]Shape{"a": Sq{S: 1}}})
fmt.Println(string(b))
var s Shape = Sq{S: 7}
b, _ = json.MarshalIndent([1]Shape{s}, "", "")
fmt.Println(string(b))
var sb strings.Builder
json.NewEncoder(&sb).Encode(map[string]Shape{"k": Sq{S: 8}})
fmt.Print(sb.String())
_, err = json.Marshal(&Node{V: Sq{S: 1}, Next: &Node{}})
fmt.Println(err)`,
	}, []string{"", "[{\"side\":2},null,{\"side\":3}] <nil>\n{\"Name\":\"h\",\"Sh\":{\"side\":5},\"shapes\":{\"a\":{\"side\":1}}}\n[\n{\n\"side\": 7\n}\n]\n{\"k\":{\"side\":8}}\n<nil>\n"})
}

// A cell's struct that embeds another beside other fields encodes and decodes with the embedded fields inlined,
// as Go does (yaegi nested them).
func TestJSONOfEmbeddedStructs(t *testing.T) {
	expectCells(t, []string{
		"import (\"encoding/json\"; \"fmt\"; \"strings\")\n" +
			"type Base struct {\n\tID   int    `json:\"id\"`\n\tKind string `json:\"kind,omitempty\"`\n}\n" +
			"type Point struct {\n\tBase\n\tX, Y float64\n\ttag  string\n}\ntype Wrapper struct {\n\t*Base\n\tName string\n}",
		`b, _ := json.Marshal(Point{Base{1, "p"}, 2, 3, "t"})
fmt.Println(string(b))
var p Point
err := json.Unmarshal([]byte(` + "`" + `{"id":7,"X":1.5,"Y":2}` + "`" + `), &p)
fmt.Println(p.ID, p.X, p.Y, err)
b, _ = json.Marshal(Wrapper{&Base{ID: 3}, "w"})
fmt.Println(string(b))
var ps []Point
json.NewDecoder(strings.NewReader(` + "`" + `[{"id":4,"X":1}]` + "`" + `)).Decode(&ps)
fmt.Println(ps[0].ID, ps[0].X)`,
	}, []string{"", "{\"id\":1,\"kind\":\"p\",\"X\":2,\"Y\":3}\n7 1.5 2 <nil>\n{\"id\":3,\"Name\":\"w\"}\n4 1\n"})
}
