package replay

import (
	"bufio"
	"io"
	"strconv"

	"github.com/fraglab/fraglab/host"
)

// driverLog writes device operations as JSON Lines:
// {"event":I,"action":A,"addr":N,"size":N,"stream":S,"pool":"small"|"large"|"poolN"},
// with "private_pool":P for a private pool's segment and, for stitch_map
// and stitch_unmap, "sources":[{"addr":N,"size":N},...], the lent pages.
type driverLog struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func newDriverLog(w io.Writer) *driverLog {
	return &driverLog{w: bufio.NewWriterSize(w, 64<<10)}
}

// PoolName is the name of a pool id in logs and tables.
func PoolName(pool int32) string {
	switch pool {
	case 0:
		return "small"
	case 1:
		return "large"
	}
	return "pool" + strconv.Itoa(int(pool))
}

func (d *driverLog) write(op host.DriverOp) {
	if d.err != nil {
		return
	}
	b := d.buf[:0]
	b = append(b, `{"event":`...)
	b = strconv.AppendInt(b, op.Event, 10)
	b = append(b, `,"action":"`...)
	b = append(b, op.Action...)
	b = append(b, `","addr":`...)
	b = strconv.AppendUint(b, op.Addr, 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, op.Size, 10)
	b = append(b, `,"stream":`...)
	b = strconv.AppendInt(b, op.Stream, 10)
	b = append(b, `,"pool":"`...)
	b = append(b, PoolName(op.Pool)...)
	b = append(b, '"')
	if op.PrivatePool != 0 {
		b = append(b, `,"private_pool":`...)
		b = strconv.AppendInt(b, op.PrivatePool, 10)
	}
	if op.Sources != nil { // stitch_map, stitch_unmap: the lent pages
		b = append(b, `,"sources":[`...)
		for i, sp := range op.Sources {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"addr":`...)
			b = strconv.AppendUint(b, sp.Addr, 10)
			b = append(b, `,"size":`...)
			b = strconv.AppendInt(b, sp.Size, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, "}\n"...)
	d.buf = b
	_, d.err = d.w.Write(b)
}

func (d *driverLog) flush() error {
	if d.err != nil {
		return d.err
	}
	return d.w.Flush()
}
