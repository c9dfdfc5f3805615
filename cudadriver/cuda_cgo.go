//go:build cgo && linux

package cudadriver

// The CUDA driver API, loaded at run time with dlopen("libcuda.so.1"):
// building needs no CUDA headers or toolkit. The few types and prototypes
// used are declared here, with the layouts of cuda.h (CUDA 11.2 and later);
// every function is called through a pointer from dlsym, by its versioned
// name where cuda.h maps the plain one to a _v2 symbol.
//
// UNVERIFIED on a GPU in this repository's CI (no GPU there): the loader's
// failure path is tested; the calls themselves are exercised by
// scripts/gpu-check.sh on a machine with an NVIDIA GPU.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef unsigned long long CUdeviceptr;
typedef unsigned long long CUmemGenericAllocationHandle;

typedef struct { int type; int id; } fl_CUmemLocation;
typedef struct {
	int type;                 // CU_MEM_ALLOCATION_TYPE_PINNED = 1
	int requestedHandleTypes; // CU_MEM_HANDLE_TYPE_NONE = 0
	fl_CUmemLocation location;// CU_MEM_LOCATION_TYPE_DEVICE = 1, ordinal
	void *win32HandleMetaData;
	struct {
		unsigned char compressionType;
		unsigned char gpuDirectRDMACapable;
		unsigned short usage;
		unsigned char reserved[4];
	} allocFlags;
} fl_CUmemAllocationProp;
typedef struct { fl_CUmemLocation location; int flags; } fl_CUmemAccessDesc; // CU_MEM_ACCESS_FLAGS_PROT_READWRITE = 3

static void *fl_lib;
static CUresult (*p_cuInit)(unsigned int);
static CUresult (*p_cuDriverGetVersion)(int *);
static CUresult (*p_cuDeviceGetCount)(int *);
static CUresult (*p_cuDeviceGet)(CUdevice *, int);
static CUresult (*p_cuDeviceGetName)(char *, int, CUdevice);
static CUresult (*p_cuDeviceTotalMem)(size_t *, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRelease)(CUdevice);
static CUresult (*p_cuCtxSetCurrent)(CUcontext);
static CUresult (*p_cuCtxSynchronize)(void);
static CUresult (*p_cuMemGetInfo)(size_t *, size_t *);
static CUresult (*p_cuMemAlloc)(CUdeviceptr *, size_t);
static CUresult (*p_cuMemFree)(CUdeviceptr);
static CUresult (*p_cuMemAddressReserve)(CUdeviceptr *, size_t, size_t, CUdeviceptr, unsigned long long);
static CUresult (*p_cuMemAddressFree)(CUdeviceptr, size_t);
static CUresult (*p_cuMemCreate)(CUmemGenericAllocationHandle *, size_t, const fl_CUmemAllocationProp *, unsigned long long);
static CUresult (*p_cuMemRelease)(CUmemGenericAllocationHandle);
static CUresult (*p_cuMemMap)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long);
static CUresult (*p_cuMemUnmap)(CUdeviceptr, size_t);
static CUresult (*p_cuMemSetAccess)(CUdeviceptr, size_t, const fl_CUmemAccessDesc *, size_t);
static CUresult (*p_cuMemGetAllocationGranularity)(size_t *, const fl_CUmemAllocationProp *, int);
static CUresult (*p_cuMemsetD32)(CUdeviceptr, unsigned int, size_t);
static CUresult (*p_cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
static CUresult (*p_cuGetErrorString)(CUresult, const char **);
static CUresult (*p_cuGetErrorName)(CUresult, const char **);

#define FL_SYM(var, name) do { *(void **)(&var) = dlsym(fl_lib, name); if (!var) { static char msg[128]; snprintf(msg, sizeof msg, "libcuda.so.1 has no symbol %s", name); return msg; } } while (0)

// fl_load opens the driver library; NULL on success, else why not.
static const char *fl_load(const char *path) {
	fl_lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!fl_lib) return dlerror();
	FL_SYM(p_cuInit, "cuInit");
	FL_SYM(p_cuDriverGetVersion, "cuDriverGetVersion");
	FL_SYM(p_cuDeviceGetCount, "cuDeviceGetCount");
	FL_SYM(p_cuDeviceGet, "cuDeviceGet");
	FL_SYM(p_cuDeviceGetName, "cuDeviceGetName");
	FL_SYM(p_cuDeviceTotalMem, "cuDeviceTotalMem_v2");
	FL_SYM(p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
	FL_SYM(p_cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
	FL_SYM(p_cuCtxSetCurrent, "cuCtxSetCurrent");
	FL_SYM(p_cuCtxSynchronize, "cuCtxSynchronize");
	FL_SYM(p_cuMemGetInfo, "cuMemGetInfo_v2");
	FL_SYM(p_cuMemAlloc, "cuMemAlloc_v2");
	FL_SYM(p_cuMemFree, "cuMemFree_v2");
	FL_SYM(p_cuMemAddressReserve, "cuMemAddressReserve");
	FL_SYM(p_cuMemAddressFree, "cuMemAddressFree");
	FL_SYM(p_cuMemCreate, "cuMemCreate");
	FL_SYM(p_cuMemRelease, "cuMemRelease");
	FL_SYM(p_cuMemMap, "cuMemMap");
	FL_SYM(p_cuMemUnmap, "cuMemUnmap");
	FL_SYM(p_cuMemSetAccess, "cuMemSetAccess");
	FL_SYM(p_cuMemGetAllocationGranularity, "cuMemGetAllocationGranularity");
	FL_SYM(p_cuMemsetD32, "cuMemsetD32_v2");
	FL_SYM(p_cuMemcpyDtoH, "cuMemcpyDtoH_v2");
	FL_SYM(p_cuGetErrorString, "cuGetErrorString");
	FL_SYM(p_cuGetErrorName, "cuGetErrorName");
	return NULL;
}

static const char *fl_errstr(CUresult r) {
	const char *s = NULL;
	if (p_cuGetErrorString(r, &s) != 0 || !s) return "unknown error";
	return s;
}
static const char *fl_errname(CUresult r) {
	const char *s = NULL;
	if (p_cuGetErrorName(r, &s) != 0 || !s) return "CUDA_ERROR_UNKNOWN";
	return s;
}

static void fl_prop(fl_CUmemAllocationProp *p, int dev) {
	memset(p, 0, sizeof *p);
	p->type = 1;
	p->location.type = 1;
	p->location.id = dev;
}

static CUresult fl_cuInit(void) { return p_cuInit(0); }
static CUresult fl_cuDriverGetVersion(int *v) { return p_cuDriverGetVersion(v); }
static CUresult fl_cuDeviceGetCount(int *n) { return p_cuDeviceGetCount(n); }
static CUresult fl_cuDeviceGet(CUdevice *d, int i) { return p_cuDeviceGet(d, i); }
static CUresult fl_cuDeviceGetName(char *s, int n, CUdevice d) { return p_cuDeviceGetName(s, n, d); }
static CUresult fl_cuDeviceTotalMem(size_t *b, CUdevice d) { return p_cuDeviceTotalMem(b, d); }
static CUresult fl_cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) { return p_cuDevicePrimaryCtxRetain(c, d); }
static CUresult fl_cuDevicePrimaryCtxRelease(CUdevice d) { return p_cuDevicePrimaryCtxRelease(d); }
static CUresult fl_cuCtxSetCurrent(CUcontext c) { return p_cuCtxSetCurrent(c); }
static CUresult fl_cuCtxSynchronize(void) { return p_cuCtxSynchronize(); }
static CUresult fl_cuMemGetInfo(size_t *f, size_t *t) { return p_cuMemGetInfo(f, t); }
static CUresult fl_cuMemAlloc(CUdeviceptr *p, size_t n) { return p_cuMemAlloc(p, n); }
static CUresult fl_cuMemFree(CUdeviceptr p) { return p_cuMemFree(p); }
static CUresult fl_cuMemAddressReserve(CUdeviceptr *p, size_t n, size_t align) { return p_cuMemAddressReserve(p, n, align, 0, 0); }
static CUresult fl_cuMemAddressFree(CUdeviceptr p, size_t n) { return p_cuMemAddressFree(p, n); }
static CUresult fl_cuMemCreate(CUmemGenericAllocationHandle *h, size_t n, int dev) {
	fl_CUmemAllocationProp prop;
	fl_prop(&prop, dev);
	return p_cuMemCreate(h, n, &prop, 0);
}
static CUresult fl_cuMemRelease(CUmemGenericAllocationHandle h) { return p_cuMemRelease(h); }
static CUresult fl_cuMemMap(CUdeviceptr p, size_t n, CUmemGenericAllocationHandle h) { return p_cuMemMap(p, n, 0, h, 0); }
static CUresult fl_cuMemUnmap(CUdeviceptr p, size_t n) { return p_cuMemUnmap(p, n); }
static CUresult fl_cuMemSetAccess(CUdeviceptr p, size_t n, int dev) {
	fl_CUmemAccessDesc d;
	memset(&d, 0, sizeof d);
	d.location.type = 1;
	d.location.id = dev;
	d.flags = 3;
	return p_cuMemSetAccess(p, n, &d, 1);
}
static CUresult fl_cuMemGetAllocationGranularity(size_t *g, int dev) {
	fl_CUmemAllocationProp prop;
	fl_prop(&prop, dev);
	return p_cuMemGetAllocationGranularity(g, &prop, 0);
}
static CUresult fl_cuMemsetD32(CUdeviceptr p, unsigned int v, size_t n) { return p_cuMemsetD32(p, v, n); }
static CUresult fl_cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n) { return p_cuMemcpyDtoH(dst, src, n); }
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"
)

// LibCUDAEnv names an environment variable that, when set, is the path of
// the driver library to load instead of libcuda.so.1.
const LibCUDAEnv = "FRAGLAB_LIBCUDA"

var (
	loadOnce sync.Once
	loadErr  error
)

// loadDriver dlopens the driver library and runs cuInit, once per process.
func loadDriver() error {
	loadOnce.Do(func() {
		path := "libcuda.so.1"
		if p := os.Getenv(LibCUDAEnv); p != "" {
			path = p
		}
		cpath := C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
		if msg := C.fl_load(cpath); msg != nil {
			loadErr = fmt.Errorf("%w: %s", ErrNoDriver, C.GoString(msg))
			return
		}
		if err := cuCheck("cuInit", C.fl_cuInit()); err != nil {
			loadErr = fmt.Errorf("%w: %v", ErrNoDriver, err)
		}
	})
	return loadErr
}

// cuCheck turns a CUresult into a *CUDAError (nil on CUDA_SUCCESS).
func cuCheck(call string, r C.CUresult) error {
	if r == 0 {
		return nil
	}
	return &CUDAError{Call: call, Code: int(r), Name: C.GoString(C.fl_errname(r)), Text: C.GoString(C.fl_errstr(r))}
}

// CUDADeviceCount is cuDeviceGetCount; an error wrapping ErrNoDriver when
// there is no driver.
func CUDADeviceCount() (int, error) {
	if err := loadDriver(); err != nil {
		return 0, err
	}
	var n C.int
	if err := cuCheck("cuDeviceGetCount", C.fl_cuDeviceGetCount(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// cgoDriver serves driver calls for one device on one OS thread, locked,
// with the device's primary context current.
type cgoDriver struct {
	dev   C.CUdevice
	calls chan func()
	done  chan struct{}
}

// do runs f on the driver's thread and waits for it.
func (d *cgoDriver) do(f func()) {
	ch := make(chan struct{})
	d.calls <- func() { f(); close(ch) }
	<-ch
}

func openDriver(index int) (driver, driverDevice, error) {
	if err := loadDriver(); err != nil {
		return nil, driverDevice{}, err
	}
	d := &cgoDriver{calls: make(chan func()), done: make(chan struct{})}
	var dd driverDevice
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		defer close(d.done)
		ready <- d.setup(index, &dd)
		for f := range d.calls {
			f()
		}
	}()
	if err := <-ready; err != nil {
		close(d.calls)
		<-d.done
		return nil, driverDevice{}, fmt.Errorf("cuda:%d: %w", index, err)
	}
	return d, dd, nil
}

// setup runs on the locked thread: device, primary context, description.
func (d *cgoDriver) setup(index int, dd *driverDevice) error {
	var n C.int
	if err := cuCheck("cuDeviceGetCount", C.fl_cuDeviceGetCount(&n)); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: the driver sees no CUDA device", ErrNoDriver)
	}
	if index < 0 || index >= int(n) {
		return fmt.Errorf("no such device: %d CUDA device(s), ordinals 0..%d", int(n), int(n)-1)
	}
	if err := cuCheck("cuDeviceGet", C.fl_cuDeviceGet(&d.dev, C.int(index))); err != nil {
		return err
	}
	var ctx C.CUcontext
	if err := cuCheck("cuDevicePrimaryCtxRetain", C.fl_cuDevicePrimaryCtxRetain(&ctx, d.dev)); err != nil {
		return err
	}
	if err := cuCheck("cuCtxSetCurrent", C.fl_cuCtxSetCurrent(ctx)); err != nil {
		C.fl_cuDevicePrimaryCtxRelease(d.dev)
		return err
	}
	var name [256]C.char
	if err := cuCheck("cuDeviceGetName", C.fl_cuDeviceGetName(&name[0], C.int(len(name)), d.dev)); err != nil {
		C.fl_cuDevicePrimaryCtxRelease(d.dev)
		return err
	}
	var g C.size_t
	if err := cuCheck("cuMemGetAllocationGranularity", C.fl_cuMemGetAllocationGranularity(&g, C.int(d.dev))); err != nil {
		C.fl_cuDevicePrimaryCtxRelease(d.dev)
		return err
	}
	var v C.int
	if err := cuCheck("cuDriverGetVersion", C.fl_cuDriverGetVersion(&v)); err != nil {
		C.fl_cuDevicePrimaryCtxRelease(d.dev)
		return err
	}
	*dd = driverDevice{Name: C.GoString(&name[0]), Granularity: int64(g), Version: int(v)}
	return nil
}

func (d *cgoDriver) memGetInfo() (free, total int64, err error) {
	d.do(func() {
		var f, t C.size_t
		err = cuCheck("cuMemGetInfo_v2", C.fl_cuMemGetInfo(&f, &t))
		free, total = int64(f), int64(t)
	})
	return
}

func (d *cgoDriver) memAlloc(size int64) (addr uint64, err error) {
	d.do(func() {
		var p C.CUdeviceptr
		err = cuCheck("cuMemAlloc_v2", C.fl_cuMemAlloc(&p, C.size_t(size)))
		addr = uint64(p)
	})
	return
}

func (d *cgoDriver) memFree(ptr uint64) (err error) {
	d.do(func() { err = cuCheck("cuMemFree_v2", C.fl_cuMemFree(C.CUdeviceptr(ptr))) })
	return
}

func (d *cgoDriver) addressReserve(size, align int64) (addr uint64, err error) {
	d.do(func() {
		var p C.CUdeviceptr
		err = cuCheck("cuMemAddressReserve", C.fl_cuMemAddressReserve(&p, C.size_t(size), C.size_t(align)))
		addr = uint64(p)
	})
	return
}

func (d *cgoDriver) addressFree(ptr uint64, size int64) (err error) {
	d.do(func() { err = cuCheck("cuMemAddressFree", C.fl_cuMemAddressFree(C.CUdeviceptr(ptr), C.size_t(size))) })
	return
}

func (d *cgoDriver) memCreate(size int64) (h uint64, err error) {
	d.do(func() {
		var ch C.CUmemGenericAllocationHandle
		err = cuCheck("cuMemCreate", C.fl_cuMemCreate(&ch, C.size_t(size), C.int(d.dev)))
		h = uint64(ch)
	})
	return
}

func (d *cgoDriver) memRelease(h uint64) (err error) {
	d.do(func() { err = cuCheck("cuMemRelease", C.fl_cuMemRelease(C.CUmemGenericAllocationHandle(h))) })
	return
}

func (d *cgoDriver) memMap(ptr uint64, size int64, h uint64) (err error) {
	d.do(func() {
		err = cuCheck("cuMemMap", C.fl_cuMemMap(C.CUdeviceptr(ptr), C.size_t(size), C.CUmemGenericAllocationHandle(h)))
	})
	return
}

func (d *cgoDriver) memUnmap(ptr uint64, size int64) (err error) {
	d.do(func() { err = cuCheck("cuMemUnmap", C.fl_cuMemUnmap(C.CUdeviceptr(ptr), C.size_t(size))) })
	return
}

func (d *cgoDriver) setAccess(ptr uint64, size int64) (err error) {
	d.do(func() {
		err = cuCheck("cuMemSetAccess", C.fl_cuMemSetAccess(C.CUdeviceptr(ptr), C.size_t(size), C.int(d.dev)))
	})
	return
}

func (d *cgoDriver) memsetD32(ptr uint64, v uint32, words int64) (err error) {
	d.do(func() {
		err = cuCheck("cuMemsetD32_v2", C.fl_cuMemsetD32(C.CUdeviceptr(ptr), C.uint(v), C.size_t(words)))
	})
	return
}

func (d *cgoDriver) memcpyDtoH(dst []uint32, src uint64) (err error) {
	if len(dst) == 0 {
		return nil
	}
	d.do(func() {
		err = cuCheck("cuMemcpyDtoH_v2", C.fl_cuMemcpyDtoH(unsafe.Pointer(&dst[0]), C.CUdeviceptr(src), C.size_t(len(dst)*4)))
	})
	return
}

func (d *cgoDriver) synchronize() (err error) {
	d.do(func() { err = cuCheck("cuCtxSynchronize", C.fl_cuCtxSynchronize()) })
	return
}

// close releases the primary context and ends the driver's thread.
func (d *cgoDriver) close() (err error) {
	d.do(func() { err = cuCheck("cuDevicePrimaryCtxRelease_v2", C.fl_cuDevicePrimaryCtxRelease(d.dev)) })
	close(d.calls)
	<-d.done
	return err
}
