package ct

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/govalent/govalent/ct/codec"
)

// Option configures an electron or a lattice.
type Option func(*options)

type options struct {
	interpreted bool
	executor    string
	queue       string
	name        string
	retries     int
	timeLimit   time.Duration
	settings    map[string]any
}

// Executor picks where an electron runs ("pool", the default, "local", "awsbatch", "awslambda", "qsim" or
// "braket"); on a lattice it is the default for its electrons.
func Executor(name string) Option { return func(o *options) { o.executor = name } }

// Queue names the worker queue an electron goes to, for executors that have queues (the Redis pool: only
// workers started with --queue NAME take it); the embedded pool has one queue and ignores it.
func Queue(name string) Option { return func(o *options) { o.queue = name } }

// With sets one executor setting for an electron (e.g. ct.With("vcpu", 2) for awsbatch), overriding the
// dispatcher's configured value for that executor; each executor documents the settings it reads. The value
// must be JSON-encodable.
func With(key string, value any) Option {
	return func(o *options) {
		if o.settings == nil {
			o.settings = map[string]any{}
		}
		o.settings[key] = value
	}
}

// Interpreted runs an electron in the interpreter even where the dispatcher builds its program into native
// code (the default when it has a Go toolchain): for code that relies on the interpreter's behaviour.
func Interpreted() Option { return func(o *options) { o.interpreted = true } }

// Name sets the node name shown in results (default: the Go func's name).
func Name(s string) Option { return func(o *options) { o.name = s } }

// Retries lets a failed electron run again up to n more times.
func Retries(n int) Option { return func(o *options) { o.retries = n } }

// TimeLimit fails an electron that runs longer than d.
func TimeLimit(d time.Duration) Option { return func(o *options) { o.timeLimit = d } }

// Shipped is the source reference the interpreter attaches to an electron or lattice function so that a worker
// can rebuild it. Users never write it: package interp wraps the first argument of ct.Electron and ct.Lattice.
type Shipped struct {
	Ref  string // "<session>/<key>", resolved by the session's Shipper
	Name string // the name the user gave it (func or variable name)
	Fn   any
}

// Ship wraps fn with its source reference; called by code that package interp rewrites.
func Ship(ref, name string, fn any) Shipped { return Shipped{Ref: ref, Name: name, Fn: fn} }

// A Shipper turns source references of one interpreter session into a program a worker can rebuild, and tells
// the symbol each reference is reachable by in that program.
type Shipper interface {
	Ship(refs []string) (prog Program, entries map[string]string, err error)
}

var shippers sync.Map // session id -> Shipper

// RegisterShipper makes refs of the form "<session>/..." resolvable at dispatch.
func RegisterShipper(session string, s Shipper) { shippers.Store(session, s) }

// UnregisterShipper forgets a session.
func UnregisterShipper(session string) { shippers.Delete(session) }

// code is what an electron or lattice runs: a Go func and where its source comes from.
type code struct {
	fn    reflect.Value
	ref   string
	name  string
	entry string // of an electron of compiled code (no ref): what a worker calls it by (registerCompiled)
}

func newCode(f any) (code, error) {
	c := code{}
	if s, ok := f.(Shipped); ok {
		c.ref, c.name, f = s.Ref, s.Name, s.Fn
	}
	c.fn = reflect.ValueOf(f)
	if c.fn.Kind() != reflect.Func {
		return c, fmt.Errorf("ct: expected a func, got %T", f)
	}
	if c.name == "" {
		c.name = compiledFuncName(c.fn)
	}
	return c, nil
}

func compiledFuncName(v reflect.Value) string {
	fn := runtime.FuncForPC(v.Pointer())
	if fn == nil {
		return "lambda"
	}
	// Trim what the compiler adds to method values ("T.M-fm") and generic funcs ("F[...]", which has dots).
	name := strings.TrimSuffix(strings.TrimSuffix(fn.Name(), "-fm"), "[...]")
	name = name[strings.LastIndex(name, ".")+1:]
	if strings.HasPrefix(name, "func") {
		return "lambda"
	}
	return name
}

// Workflow is a lattice: a Go func that, called with real arguments, builds a transport graph.
type Workflow struct {
	code
	opts options
}

// Lattice turns fn into a workflow. fn is called at dispatch with the dispatch arguments; the electrons it calls
// record nodes. It must return a Future, a value, or a collection holding futures.
func Lattice(fn any, opts ...Option) *Workflow {
	c, err := newCode(fn)
	if err != nil {
		panic(err)
	}
	w := &Workflow{code: c}
	for _, o := range opts {
		o(&w.opts)
	}
	if w.opts.name != "" {
		w.name = w.opts.name
	}
	return w
}

// Name is the workflow's name.
func (w *Workflow) Name() string { return w.name }

// FuncType is the type of the lattice function.
func (w *Workflow) FuncType() reflect.Type { return w.fn.Type() }

// String shows the workflow as a notebook cell ending in it does: what it is, its name and its parameters.
func (w *Workflow) String() string {
	return fmt.Sprintf("lattice %s%s (run it with ct.Dispatch or ct.DispatchSync)", w.name, strings.TrimPrefix(w.fn.Type().String(), "func"))
}

// ElectronFunc is what ct.Electron returns: called inside a lattice, it records a node and returns its Future.
type ElectronFunc func(args ...any) Future

// Electron turns fn into a task. fn is any Go func, or a *Workflow (a sublattice, run as a child dispatch).
func Electron(fn any, opts ...Option) ElectronFunc {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var (
		c    code
		kind = KindElectron
		err  error
	)
	shipped, isShipped := fn.(Shipped)
	if isShipped {
		fn = shipped.Fn
	}
	if wf, ok := fn.(*Workflow); ok {
		// A sublattice ships as the variable holding the workflow, so the worker gets its options too.
		kind, c = KindSublattice, wf.code
		if isShipped {
			c.ref, c.name = shipped.Ref, shipped.Name
		}
	} else {
		if isShipped {
			fn = shipped
		}
		if c, err = newCode(fn); err != nil {
			panic(err)
		}
		if !isShipped {
			c.entry = registerCompiled(c.fn)
		}
	}
	name := c.name
	if o.name != "" {
		name = o.name
	}
	return func(args ...any) Future {
		b := currentBuilder()
		if b == nil {
			panic(fmt.Errorf("ct: electron %s called outside a lattice; call it inside ct.Lattice, or call the plain Go func", name))
		}
		return b.addCall(kind, c, name, o, args)
	}
}

// Future is the output of a node that has not run yet. Pass it to other electrons, put it in slices or maps, or
// select from it. Its value does not exist while the lattice builds the graph: branch inside an electron instead.
type Future struct {
	b    *builder
	node int
	typ  reflect.Type // Go type of the value, when known
}

// NodeID is the id of the node that produces this future.
func (f Future) NodeID() int { return f.node }

func (f Future) check(op string) *builder {
	if f.b == nil || f.b != currentBuilder() {
		panic(fmt.Errorf("ct: %s on a Future outside the lattice that made it", op))
	}
	return f.b
}

// Index selects element i of a slice or array output, or result i of an electron with several results.
func (f Future) Index(i int) Future {
	b := f.check("Index")
	var t reflect.Type
	if f.typ != nil {
		switch f.typ.Kind() {
		case reflect.Slice, reflect.Array:
			t = f.typ.Elem()
		case reflect.Struct:
			if tuple, ok := tupleOf(f.typ); ok {
				if i < 0 || i >= len(tuple) {
					b.fail(fmt.Errorf("ct: Index(%d) out of range: the electron returns %d values", i, len(tuple)))
				} else {
					t = tuple[i]
				}
			} else {
				b.fail(fmt.Errorf("ct: Index on a %s; use Field", f.typ))
			}
		default:
			b.fail(fmt.Errorf("ct: Index on a %s", f.typ))
		}
	}
	return b.addSelect(f, Node{Kind: KindIndex, Index: i, Name: fmt.Sprintf("[%d]", i)}, t)
}

// Key selects the value at key k of a map output.
func (f Future) Key(k any) Future {
	b := f.check("Key")
	var t reflect.Type
	if f.typ != nil {
		if f.typ.Kind() != reflect.Map {
			b.fail(fmt.Errorf("ct: Key on a %s", f.typ))
		} else {
			t = f.typ.Elem()
		}
	}
	key := fmt.Sprint(k)
	return b.addSelect(f, Node{Kind: KindKey, Key: key, Name: fmt.Sprintf("[%q]", key)}, t)
}

// Field selects the struct field named name (the Go name; its JSON tag is honoured).
func (f Future) Field(name string) Future {
	b := f.check("Field")
	key, t := name, reflect.Type(nil)
	if f.typ != nil {
		st := f.typ
		if st.Kind() == reflect.Pointer {
			st = st.Elem()
		}
		field, ok := reflect.StructField{}, false
		if st.Kind() == reflect.Struct {
			field, ok = st.FieldByName(name)
		}
		// Refuse now what the node could only fail at run time: the output is encoded, with JSON's field names.
		if tuple, isTuple := tupleOf(st); isTuple { // several results travel as an array
			b.fail(fmt.Errorf("ct: Field(%q) on the %d results of an electron; use Index", name, len(tuple)))
		} else if !ok || !field.IsExported() || field.Tag.Get("json") == "-" { // JSON leaves these out
			b.fail(fmt.Errorf("ct: Field(%q): %s has no such field", name, f.typ))
		} else {
			t, key = field.Type, jsonName(field)
		}
	}
	return b.addSelect(f, Node{Kind: KindField, Key: key, Name: "." + name}, t)
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if n, _, _ := strings.Cut(tag, ","); n != "" && n != "-" {
		return n
	}
	return f.Name
}

// WaitFor makes f's node start only after the others finished, without passing their outputs.
func WaitFor(f Future, others ...Future) Future {
	b := f.check("WaitFor")
	for _, o := range others {
		o.check("WaitFor")
		b.nodes[f.node].WaitFor = append(b.nodes[f.node].WaitFor, o.node)
	}
	return f
}

// tupleTypes records the synthetic struct types that stand for an electron's several results.
var (
	tupleMu    sync.Mutex
	tupleTypes = map[reflect.Type][]reflect.Type{}
)

func tupleOf(t reflect.Type) ([]reflect.Type, bool) {
	tupleMu.Lock()
	defer tupleMu.Unlock()
	r, ok := tupleTypes[t]
	return r, ok
}

func tupleType(results []reflect.Type) reflect.Type {
	fields := make([]reflect.StructField, len(results))
	for i, r := range results {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("R%d", i), Type: r}
	}
	t := reflect.StructOf(fields)
	tupleMu.Lock()
	tupleTypes[t] = results
	tupleMu.Unlock()
	return t
}

// OutputTypes returns the results of fn that make up its output: all but a trailing error.
func OutputTypes(fnType reflect.Type) (outs []reflect.Type, returnsError bool) {
	n := fnType.NumOut()
	errType := reflect.TypeOf((*error)(nil)).Elem()
	if n > 0 && fnType.Out(n-1) == errType {
		returnsError = true
		n--
	}
	for i := 0; i < n; i++ {
		outs = append(outs, fnType.Out(i))
	}
	return outs, returnsError
}

// builder collects the nodes of one graph while a lattice function runs.
type builder struct {
	nodes []Node
	refs  map[int]string // node -> shipped ref (electrons and sublattices)
	// compiled names an electron of compiled code in the graph, if any: then the program is this executable
	compiled string
	err      error
}

var (
	buildMu  sync.Mutex // one graph build at a time per process: futures find their builder through it
	building *builder
)

func currentBuilder() *builder { return building }

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *builder) add(n Node) int {
	n.ID = len(b.nodes)
	b.nodes = append(b.nodes, n)
	return n.ID
}

func (b *builder) addSelect(f Future, n Node, t reflect.Type) Future {
	id := f.node
	n.Args = []Arg{{Node: &id}}
	return Future{b: b, node: b.add(n), typ: t}
}

func (b *builder) addCall(kind NodeKind, c code, name string, o options, args []any) Future {
	fnType := c.fn.Type()
	entry := ""
	if c.ref == "" {
		entry = b.compiledEntry(kind, c, name)
	}
	nIn := fnType.NumIn()
	if fnType.IsVariadic() {
		if len(args) < nIn-1 {
			b.fail(fmt.Errorf("ct: %s takes at least %d arguments, got %d", name, nIn-1, len(args)))
		}
	} else if len(args) != nIn {
		b.fail(fmt.Errorf("ct: %s takes %d arguments, got %d", name, nIn, len(args)))
	}
	n := Node{Kind: kind, Name: name, Entry: entry, Executor: o.executor, Queue: o.queue, Retries: o.retries, TimeLimit: Duration(o.timeLimit), Interpreted: o.interpreted}
	for k, v := range o.settings {
		raw, err := json.Marshal(v)
		if err != nil {
			b.fail(fmt.Errorf("ct: %s setting %q: %w", name, k, err))
		}
		if n.Settings == nil {
			n.Settings = map[string]json.RawMessage{}
		}
		n.Settings[k] = raw
	}
	for i, a := range args {
		if err := checkInterfaceParam(fnType, i, a, c.ref != ""); err != nil {
			b.fail(fmt.Errorf("ct: %s argument %d: %w", name, i+1, err))
		}
		arg, err := b.arg(a)
		if err != nil {
			b.fail(fmt.Errorf("ct: %s argument %d: %w", name, i+1, err))
		}
		arg.Name = fmt.Sprintf("arg%d", i)
		n.Args = append(n.Args, arg)
	}
	id := b.add(n)
	if c.ref != "" {
		b.refs[id] = c.ref
	}
	var t reflect.Type
	if kind == KindElectron {
		switch outs, _ := OutputTypes(fnType); len(outs) {
		case 0:
		case 1:
			t = outs[0]
		default:
			t = tupleType(outs)
		}
	}
	return Future{b: b, node: id, typ: t}
}

var futureType = reflect.TypeOf(Future{})

// arg turns an argument into a constant, a node reference, or a collection node of them.
func (b *builder) arg(a any) (Arg, error) {
	if f, ok := a.(Future); ok {
		f.check("passing")
		id := f.node
		return Arg{Node: &id}, nil
	}
	v := reflect.ValueOf(a)
	if !containsFuture(v) {
		raw, err := codec.Marshal(a)
		if err != nil {
			return Arg{}, err
		}
		return Arg{Encoded: raw}, nil
	}
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Type() == futureType {
		return b.arg(v.Interface())
	}
	var n Node
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		n = Node{Kind: KindList, Name: "list"}
		for i := 0; i < v.Len(); i++ {
			el, err := b.arg(v.Index(i).Interface())
			if err != nil {
				return Arg{}, err
			}
			n.Args = append(n.Args, el)
		}
	case reflect.Map:
		n = Node{Kind: KindDict, Name: "dict"}
		// Keys in order, not Go's random map order, so that one lattice always builds the same graph (the ids
		// of nested collection nodes included).
		keys := v.MapKeys()
		name := func(k reflect.Value) string { return fmt.Sprint(k.Interface()) }
		sort.Slice(keys, func(i, j int) bool { return name(keys[i]) < name(keys[j]) })
		for _, k := range keys {
			el, err := b.arg(v.MapIndex(k).Interface())
			if err != nil {
				return Arg{}, err
			}
			el.Name = name(k)
			n.Args = append(n.Args, el)
		}
	default:
		return Arg{}, fmt.Errorf("futures inside a %s are not supported: pass them as separate arguments or in a slice or map", v.Type())
	}
	id := b.add(n)
	return Arg{Node: &id}, nil
}

func containsFuture(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		return !v.IsNil() && containsFuture(v.Elem())
	case reflect.Struct:
		if v.Type() == futureType {
			return true
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() && containsFuture(v.Field(i)) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if containsFuture(v.Index(i)) {
				return true
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if containsFuture(iter.Value()) {
				return true
			}
		}
	}
	return false
}

// BuildGraph calls the lattice with args and returns its transport graph and the program its electrons need.
func BuildGraph(wf *Workflow, args ...any) (g *Graph, prog Program, err error) {
	if wf == nil {
		return nil, prog, fmt.Errorf("ct: nil workflow")
	}
	b := &builder{refs: map[int]string{}}
	out, err := b.run(wf, args)
	if err != nil {
		return nil, prog, err
	}
	g = &Graph{Name: wf.name, Nodes: b.nodes, Output: out, Executor: wf.opts.executor}
	prog, err = b.ship(g)
	return g, prog, err
}

func (b *builder) run(wf *Workflow, args []any) (out Arg, err error) {
	ft := wf.fn.Type()
	if ft.IsVariadic() {
		if len(args) < ft.NumIn()-1 {
			return out, fmt.Errorf("ct: lattice %s takes at least %d arguments, got %d", wf.name, ft.NumIn()-1, len(args))
		}
	} else if len(args) != ft.NumIn() {
		return out, fmt.Errorf("ct: lattice %s takes %d arguments, got %d", wf.name, ft.NumIn(), len(args))
	}
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		pt := ft.In(min(i, ft.NumIn()-1))
		if ft.IsVariadic() && i >= ft.NumIn()-1 {
			pt = pt.Elem()
		}
		if in[i], err = convertArg(a, pt); err != nil {
			return out, fmt.Errorf("ct: lattice %s argument %d: %w", wf.name, i+1, err)
		}
	}
	buildMu.Lock()
	building = b
	defer func() {
		building = nil
		buildMu.Unlock()
		if r := recover(); r != nil {
			err = fmt.Errorf("ct: lattice %s: %v", wf.name, r)
		}
	}()
	res := wf.fn.Call(in)
	if b.err != nil {
		return out, b.err
	}
	switch len(res) {
	case 0:
		return out, nil
	case 1:
		if out, err = b.arg(res[0].Interface()); err != nil {
			err = fmt.Errorf("ct: lattice %s output: %w", wf.name, err)
		}
		return out, err
	default:
		return out, fmt.Errorf("ct: lattice %s must return one value", wf.name)
	}
}

// convertArg makes a into a value of type t, through the codec when the types differ (e.g. float64 -> int).
func convertArg(a any, t reflect.Type) (reflect.Value, error) {
	if a == nil {
		return reflect.Zero(t), nil
	}
	v := reflect.ValueOf(a)
	if v.Type().AssignableTo(t) {
		return v, nil
	}
	raw, err := codec.Marshal(a)
	if err != nil {
		return v, err
	}
	p := reflect.New(t)
	if err := codec.Unmarshal(raw, p.Interface()); err != nil {
		return v, fmt.Errorf("cannot use %T as %s: %w", a, t, err)
	}
	return p.Elem(), nil
}

// checkInterfaceParam refuses, at dispatch, an argument that could not be decoded on a worker: values cross
// processes encoded, and a parameter of an interface type other than any decodes only into a type registered
// on both sides (Register). Notebook cells cannot register for their workers, so their electrons take concrete
// types or any there.
func checkInterfaceParam(ft reflect.Type, i int, a any, notebook bool) error {
	if i >= ft.NumIn() && !ft.IsVariadic() {
		return nil // the count is reported on its own
	}
	pt := ft.In(min(i, ft.NumIn()-1))
	if ft.IsVariadic() && i >= ft.NumIn()-1 {
		pt = pt.Elem()
	}
	if pt.Kind() != reflect.Interface || pt.NumMethod() == 0 || a == nil {
		return nil
	}
	if notebook {
		return fmt.Errorf("its parameter has the interface type %s, which a value cannot be decoded into on a worker: declare the parameter with a concrete type (or any, for plain values)", pt)
	}
	t := reflect.TypeOf(a)
	if f, ok := a.(Future); ok {
		if f.typ == nil || f.typ.Kind() == reflect.Interface {
			return nil // an interface output carries its dynamic type's registered name, if it has one
		}
		t = f.typ
	}
	if !codec.Registered(t) {
		return fmt.Errorf("its parameter has the interface type %s and the value is a %s, which is not registered: call ct.Register(%s{}) at init, so that the worker decodes it into the same type", pt, t, t)
	}
	return nil
}

// ship asks the shipper of the electrons' session for one program that holds all of them; electrons of compiled
// code run in this program's executable instead.
func (b *builder) ship(g *Graph) (Program, error) {
	if b.compiled != "" {
		if len(b.refs) > 0 {
			return Program{}, fmt.Errorf("ct: lattice %s mixes electrons of notebook cells with electrons of compiled code (%s)", g.Name, b.compiled)
		}
		return Program{}, shipExecutable(g, b.compiled)
	}
	if len(b.refs) == 0 {
		return Program{}, nil
	}
	session := ""
	var refs []string
	seen := map[string]bool{}
	for _, ref := range b.refs {
		s, _, _ := strings.Cut(ref, "/")
		if session != "" && s != session {
			return Program{}, fmt.Errorf("ct: electrons from different interpreter sessions in one lattice")
		}
		session = s
		if !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
		}
	}
	sort.Strings(refs) // the same workflow ships the same program text, so workers reuse what they built
	sh, ok := shippers.Load(session)
	if !ok {
		return Program{}, fmt.Errorf("ct: the interpreter session that declared these electrons is gone")
	}
	prog, entries, err := sh.(Shipper).Ship(refs)
	if err != nil {
		return Program{}, err
	}
	for id, ref := range b.refs {
		g.Nodes[id].Entry = entries[ref]
	}
	return prog, nil
}
