"""Extensible user objects: the kernel's ``panthor_get_uobj_array`` / ``panthor_set_uobj`` /
``copy_struct_from_user`` rules, applied to real user pointers.

Source: ``torvalds/linux drivers/gpu/drm/panthor/panthor_drv.c`` (uobj helpers),
``include/linux/uaccess.h`` (``copy_struct_from_user``), ``mm/util.c`` (``kvmalloc`` refuses more
than ``INT_MAX`` bytes) and ``shared/reference/cs-isa-and-uapi.md`` §3.4.

Array rules (``get_uobj_array``), in the kernel's order:

1. ``count == 0`` -> empty list, nothing read (even when ``stride`` is 0: userspace leaves empty
   arrays zero-filled; upstream "drm/panthor: Don't check the array stride on empty uobj arrays",
   2024). ``check_stride_when_empty=True`` reproduces the earlier kernels (and reference §3.4),
   which rejected a short stride first.
2. ``stride < MIN_SIZE`` -> EINVAL.
3. ``count * sizeof(T) > INT_MAX`` -> ENOMEM (the kernel allocation fails).
4. ``stride == sizeof(T)`` -> one bulk copy; fault -> EFAULT.
5. otherwise element by element with ``copy_struct_from_user``: a shorter user element is
   zero-extended; a longer one must have an all-zero tail, else E2BIG; fault -> EFAULT.
"""

from __future__ import annotations

import ctypes
from typing import TypeVar

from uio_driver.errors import InvalidArgument, OutOfMemory, TooBig
from uio_driver.uapi.structs import DrmPanthorObjArray, UapiStruct
from uio_driver.uapi.usercopy import check_zeroed_user, clear_user, copy_from_user, copy_to_user

_T = TypeVar("_T", bound=UapiStruct)

#: ``kvmalloc`` refuses larger allocations ("Don't even allow crazy sizes", mm/util.c).
KVMALLOC_MAX = 0x7FFFFFFF


def min_size(struct_type: type[UapiStruct]) -> int:
    """``PANTHOR_UOBJ_MIN_SIZE`` of an extensible struct.

    Raises:
        InvalidArgument: ``struct_type`` is not one of the kernel's uobj types (the C code would
            not compile; here it is a caller error).
    """
    size = struct_type.MIN_SIZE
    if size is None:
        raise InvalidArgument(f"{struct_type.__name__} is not an extensible uAPI object (no MIN_SIZE)")
    return size


def copy_struct_from_user(struct_type: type[_T], addr: int, usize: int) -> _T:
    """Read a struct userspace declares as ``usize`` bytes long (kernel ``copy_struct_from_user``).

    ``usize < sizeof``: the missing tail is zero. ``usize > sizeof``: the extra user bytes must be
    zero. Like the kernel, the tail is checked before the known part is copied.

    Raises:
        TooBig: a byte beyond ``sizeof(struct_type)`` is non-zero (E2BIG).
        BadAddress: the user range is not readable (EFAULT).
    """
    ksize = ctypes.sizeof(struct_type)
    size = min(ksize, usize)
    if usize > ksize and not check_zeroed_user(addr + ksize, usize - ksize):
        raise TooBig(
            f"{struct_type.KERNEL_NAME}: user object at {addr:#x} is {usize} bytes and has "
            f"non-zero bytes beyond the {ksize} this driver knows",
            offset=addr, value=usize,
        )
    data = copy_from_user(addr, size) if size else b""
    return struct_type.from_buffer_copy(data.ljust(ksize, b"\0"))


def get_uobj_array(
    obj_array: DrmPanthorObjArray,
    struct_type: type[_T],
    *,
    check_stride_when_empty: bool = False,
) -> list[_T]:
    """Copy the user array described by ``obj_array`` into a list of ``struct_type``.

    Args:
        obj_array: ``stride``/``count``/``array`` as userspace passed them.
        struct_type: an extensible uAPI struct (``MIN_SIZE`` set).
        check_stride_when_empty: reject ``stride < MIN_SIZE`` even when ``count == 0`` (kernels
            before mid-2024).

    Raises:
        InvalidArgument: ``stride < MIN_SIZE`` (EINVAL).
        OutOfMemory: ``count * sizeof(struct_type)`` exceeds what the kernel can allocate (ENOMEM).
        TooBig: an element has non-zero bytes past ``sizeof(struct_type)`` (E2BIG).
        BadAddress: the array is not readable (EFAULT).
    """
    need = min_size(struct_type)
    stride, count, base = int(obj_array.stride), int(obj_array.count), int(obj_array.array)
    if check_stride_when_empty and stride < need:
        raise _short_stride(struct_type, stride, need)
    if count == 0:
        return []
    if stride < need:
        raise _short_stride(struct_type, stride, need)
    ksize = ctypes.sizeof(struct_type)
    if count * ksize > KVMALLOC_MAX:
        raise OutOfMemory(
            f"{struct_type.KERNEL_NAME}[{count}]: {count * ksize:#x} bytes exceeds the kernel's "
            f"allocation limit {KVMALLOC_MAX:#x}",
            value=count,
        )
    if stride == ksize:
        data = copy_from_user(base, count * ksize)
        return [struct_type.from_buffer_copy(data, i * ksize) for i in range(count)]
    return [copy_struct_from_user(struct_type, base + i * stride, stride) for i in range(count)]


def _short_stride(struct_type: type[UapiStruct], stride: int, need: int) -> InvalidArgument:
    return InvalidArgument(
        f"{struct_type.KERNEL_NAME} array stride {stride} is below the minimum object size {need}",
        value=stride,
    )


def set_uobj(user_ptr: int, user_size: int, obj: UapiStruct) -> None:
    """Copy a kernel output object to a user buffer of ``user_size`` bytes (``panthor_set_uobj``).

    Copies ``min(user_size, sizeof(obj))`` bytes; when the user buffer is larger, its excess bytes
    are cleared. Used by DEV_QUERY.

    Raises:
        InvalidArgument: ``user_size`` is below the object's ``MIN_SIZE`` (EINVAL); nothing written.
        BadAddress: the user buffer is not writable (EFAULT).
    """
    need = min_size(type(obj))
    if user_size < need:
        raise InvalidArgument(
            f"{obj.KERNEL_NAME}: user size {user_size} is below the minimum {need}", value=user_size
        )
    ksize = ctypes.sizeof(obj)
    copy_to_user(user_ptr, bytes(obj)[: min(user_size, ksize)])
    if user_size > ksize:
        clear_user(user_ptr + ksize, user_size - ksize)
