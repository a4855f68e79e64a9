/*
 * Structured-exception guards for the cache manager calls that report failure by raising
 * (ExRaiseStatus): CcInitializeCacheMap (no memory), CcCopyRead and CcMdlRead (a failed paging
 * read); for MmProbeAndLockPages, which raises on a user buffer the caller cannot access; and
 * for the capture of a METHOD_NEITHER input buffer (ProbeForRead and the copy).
 * Rust has no SEH, so these few lines of C, built by clang for the MSVC target (build.rs),
 * turn an expected exception into its NTSTATUS. Unexpected exceptions (access violations and
 * the like, FsRtlIsNtstatusExpected is FALSE) are not caught: they stay bugs.
 *
 * And a copy to a caller's buffer that may fault (the fast I/O queries), caught whatever
 * the exception.
 *
 * No headers: the kit's mingw headers are not needed for the few prototypes below.
 */

typedef long NTSTATUS;
typedef unsigned char BOOLEAN;
typedef unsigned long ULONG;
typedef void *PVOID;

typedef struct {
    union {
        NTSTATUS Status;
        PVOID Pointer;
    };
    unsigned long long Information;
} RUSTFSD_IO_STATUS_BLOCK;

__declspec(dllimport) BOOLEAN CcCopyRead(PVOID FileObject, long long *FileOffset, ULONG Length,
                                         BOOLEAN Wait, PVOID Buffer,
                                         RUSTFSD_IO_STATUS_BLOCK *IoStatus);
__declspec(dllimport) void CcInitializeCacheMap(PVOID FileObject, PVOID FileSizes,
                                                BOOLEAN PinAccess, PVOID Callbacks,
                                                PVOID LazyWriteContext);
__declspec(dllimport) void CcMdlRead(PVOID FileObject, long long *FileOffset, ULONG Length,
                                     PVOID *MdlChain, RUSTFSD_IO_STATUS_BLOCK *IoStatus);
__declspec(dllimport) BOOLEAN FsRtlIsNtstatusExpected(NTSTATUS Exception);
__declspec(dllimport) void MmProbeAndLockPages(PVOID Mdl, char AccessMode, int Operation);
__declspec(dllimport) void ProbeForRead(const volatile void *Address, unsigned long long Length,
                                        ULONG Alignment);

#define EXCEPTION_EXECUTE_HANDLER 1
#define EXCEPTION_CONTINUE_SEARCH 0
#define STATUS_SUCCESS ((NTSTATUS)0)
#define STATUS_INVALID_USER_BUFFER ((NTSTATUS)0xC00000E8L)

static int expected(unsigned long code)
{
    return FsRtlIsNtstatusExpected((NTSTATUS)code) ? EXCEPTION_EXECUTE_HANDLER
                                                   : EXCEPTION_CONTINUE_SEARCH;
}

/* CcInitializeCacheMap; STATUS_SUCCESS, or the status it raised. */
NTSTATUS rustfsd_cc_initialize_cache_map(PVOID file_object, PVOID sizes, PVOID callbacks,
                                         PVOID context)
{
    __try {
        CcInitializeCacheMap(file_object, sizes, 0, callbacks, context);
    } __except (expected(_exception_code())) {
        return (NTSTATUS)_exception_code();
    }
    return STATUS_SUCCESS;
}

/* CcCopyRead with Wait = TRUE; its return value in *done, or the status it raised. */
NTSTATUS rustfsd_cc_copy_read(PVOID file_object, long long *offset, ULONG length, PVOID buffer,
                              RUSTFSD_IO_STATUS_BLOCK *io_status, BOOLEAN *done)
{
    __try {
        *done = CcCopyRead(file_object, offset, length, 1, buffer, io_status);
    } __except (expected(_exception_code())) {
        return (NTSTATUS)_exception_code();
    }
    return STATUS_SUCCESS;
}

/* CcMdlRead (it waits); STATUS_SUCCESS, or the status it raised (then no chain is left in
 * *chain: Cc frees what it built before raising). */
NTSTATUS rustfsd_cc_mdl_read(PVOID file_object, long long *offset, ULONG length, PVOID *chain,
                             RUSTFSD_IO_STATUS_BLOCK *io_status)
{
    __try {
        CcMdlRead(file_object, offset, length, chain, io_status);
    } __except (expected(_exception_code())) {
        return (NTSTATUS)_exception_code();
    }
    return STATUS_SUCCESS;
}

/* MmProbeAndLockPages; STATUS_SUCCESS, or what FastFAT's FatLockUserBuffer turns the raised
 * status into: itself if FsRtlIsNtstatusExpected accepts it, else STATUS_INVALID_USER_BUFFER
 * (an access violation on a bad user address is the usual case, and is caught too). */
NTSTATUS rustfsd_probe_and_lock_pages(PVOID mdl, char mode, int operation)
{
    NTSTATUS status = STATUS_SUCCESS;
    __try {
        MmProbeAndLockPages(mdl, mode, operation);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        status = (NTSTATUS)_exception_code();
        if (!FsRtlIsNtstatusExpected(status)) {
            status = STATUS_INVALID_USER_BUFFER;
        }
    }
    return status;
}

/* Copies `length` bytes to `destination`, which may be a caller's user-mode address (a fast
 * I/O query's buffer): STATUS_SUCCESS, or the status of the exception the write raised (an
 * access violation), so the fast I/O routine can answer FALSE and let the IRP path fail it. */
NTSTATUS rustfsd_copy_to_caller(PVOID destination, const PVOID source, unsigned long long length)
{
    __try {
        volatile unsigned char *to = (volatile unsigned char *)destination;
        const unsigned char *from = (const unsigned char *)source;
        for (unsigned long long i = 0; i < length; i++) {
            to[i] = from[i];
        }
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return (NTSTATUS)_exception_code();
    }
    return STATUS_SUCCESS;
}

/* Copies `length` bytes of a user-mode caller's buffer at `source` (a METHOD_NEITHER FSCTL's
 * Type3InputBuffer) into `dest`, as FastFAT's FatGetRetrievalPointers reads its input:
 * ProbeForRead, then the read, under __try. STATUS_SUCCESS, or the raised status if
 * FsRtlIsNtstatusExpected accepts it, else STATUS_INVALID_USER_BUFFER. */
NTSTATUS rustfsd_capture_user_input(unsigned char *dest, const volatile unsigned char *source,
                                    ULONG length)
{
    NTSTATUS status = STATUS_SUCCESS;
    __try {
        ProbeForRead(source, length, 1);
        for (ULONG i = 0; i < length; i++) {
            dest[i] = source[i];
        }
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        status = (NTSTATUS)_exception_code();
        if (!FsRtlIsNtstatusExpected(status)) {
            status = STATUS_INVALID_USER_BUFFER;
        }
    }
    return status;
}

/* FsRtl's notify package allocates with FsRtlAllocatePoolWithTag, which raises
 * STATUS_INSUFFICIENT_RESOURCES when pool is short (Learn, FsRtlNotifyInitializeSync). */
__declspec(dllimport) void FsRtlNotifyInitializeSync(PVOID *NotifySync);
__declspec(dllimport) void FsRtlNotifyFullChangeDirectory(PVOID NotifySync, PVOID NotifyList,
                                                          PVOID FsContext,
                                                          PVOID FullDirectoryName,
                                                          BOOLEAN WatchTree,
                                                          BOOLEAN IgnoreBuffer,
                                                          ULONG CompletionFilter, PVOID NotifyIrp,
                                                          PVOID TraverseCallback,
                                                          PVOID SubjectContext);

/* FsRtlNotifyInitializeSync; STATUS_SUCCESS, or the status it raised. */
NTSTATUS rustfsd_fsrtl_notify_initialize_sync(PVOID *sync)
{
    __try {
        FsRtlNotifyInitializeSync(sync);
    } __except (expected(_exception_code())) {
        return (NTSTATUS)_exception_code();
    }
    return STATUS_SUCCESS;
}

/* FsRtlNotifyFullChangeDirectory (no traverse callback, no subject context); STATUS_SUCCESS
 * once FsRtl owns the IRP, or the status it raised before taking it. */
NTSTATUS rustfsd_fsrtl_notify_full_change_directory(PVOID sync, PVOID list, PVOID fs_context,
                                                    PVOID name, BOOLEAN watch_tree, ULONG filter,
                                                    PVOID irp)
{
    __try {
        FsRtlNotifyFullChangeDirectory(sync, list, fs_context, name, watch_tree, 0, filter, irp, 0,
                                       0);
    } __except (expected(_exception_code())) {
        return (NTSTATUS)_exception_code();
    }
    return STATUS_SUCCESS;
}
