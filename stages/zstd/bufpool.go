package zstd

import "sync"

// bufPool recycles frame buffers between the goroutines of a frame encoder
// or reader. Unlike a sync.Pool, it keeps its buffers across garbage
// collections; it holds no more of them than its user has frames in
// flight.
type bufPool struct {
	mu   sync.Mutex
	free [][]byte
}

// get returns an empty buffer with room for at least n bytes.
func (p *bufPool) get(n int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := len(p.free); k > 0 {
		b := p.free[k-1]
		p.free = p.free[:k-1]
		if cap(b) >= n {
			return b[:0]
		}
	}
	return make([]byte, 0, n)
}

// drop lets the garbage collector have the free buffers.
func (p *bufPool) drop() {
	p.mu.Lock()
	p.free = nil
	p.mu.Unlock()
}

func (p *bufPool) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
}
