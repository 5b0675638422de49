package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"

	msqlite "modernc.org/sqlite"
)

// Prepared statements (issue 11). The store writes with SQL text, and the
// driver compiles that text again for every statement it runs: in a replay
// profile 44% of the CPU went to parsing SQL. The writer connection
// therefore runs through a thin driver that keeps each single statement it
// has compiled, per connection, and runs it again with new arguments. Only
// the text decides: nothing changes for the code that writes SQL. A script
// (several statements, such as a migration) is never kept, nor a
// statement already in use by open rows (the driver's compiled statement
// runs one query at a time): those run as before.

// cachedDriverName is the database/sql driver of the writer connection.
const cachedDriverName = "carrierbill-sqlite-prepared"

// maxCachedStmts bounds the statements kept per connection; past it new
// texts run uncached (the store's SQL is a fixed set, well below it).
const maxCachedStmts = 512

func init() {
	sql.Register(cachedDriverName, cachedDriver{})
}

type cachedDriver struct{}

func (cachedDriver) Open(name string) (driver.Conn, error) {
	c, err := (&msqlite.Driver{}).Open(name)
	if err != nil {
		return nil, err
	}
	return newCachedConn(c)
}

// innerConn is what the driver's connection offers and database/sql uses.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type cachedConn struct {
	innerConn
	mu    sync.Mutex
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	st   driver.Stmt
	busy bool // rows of it are open
}

func newCachedConn(c driver.Conn) (*cachedConn, error) {
	ic, ok := c.(innerConn)
	if !ok {
		c.Close()
		return nil, errors.New("sqlite: the driver's connection lacks a method the statement cache needs")
	}
	return &cachedConn{innerConn: ic, stmts: map[string]*cachedStmt{}}, nil
}

// single reports whether query is one statement (no ';' but a trailing
// one): only those are kept.
func single(query string) bool {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	return !strings.Contains(q, ";")
}

// take returns the compiled statement of query, compiling and keeping it
// on first use; nil when query must run uncached.
func (c *cachedConn) take(ctx context.Context, query string) *cachedStmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil
		}
		cs.busy = true
		return cs
	}
	if len(c.stmts) >= maxCachedStmts || !single(query) {
		return nil
	}
	st, err := c.innerConn.PrepareContext(ctx, query)
	if err != nil {
		return nil // the uncached path reports the error
	}
	cs := &cachedStmt{st: st, busy: true}
	c.stmts[query] = cs
	return cs
}

func (c *cachedConn) give(cs *cachedStmt) {
	c.mu.Lock()
	cs.busy = false
	c.mu.Unlock()
}

func (c *cachedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs := c.take(ctx, query)
	if cs == nil {
		return c.innerConn.ExecContext(ctx, query, args)
	}
	defer c.give(cs)
	return cs.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs := c.take(ctx, query)
	if cs == nil {
		return c.innerConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.give(cs)
		return nil, err
	}
	return &cachedRows{Rows: rows, c: c, cs: cs}, nil
}

func (c *cachedConn) Close() error {
	c.mu.Lock()
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.st.Close())
		delete(c.stmts, q)
	}
	c.mu.Unlock()
	return errors.Join(append(errs, c.innerConn.Close())...)
}

// cachedRows gives its statement back when closed.
type cachedRows struct {
	driver.Rows
	c    *cachedConn
	cs   *cachedStmt
	once sync.Once
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(func() { r.c.give(r.cs) })
	return err
}

// ColumnTypeDatabaseTypeName passes the driver's column types through.
func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}
