"""The panthor uAPI byte layer: structures, ioctl numbers and user-memory helpers.

* :mod:`~uio_driver.uapi.structs` - ``panthor_drm.h`` as ctypes classes and constants.
* :mod:`~uio_driver.uapi.drm` - the generic DRM / syncobj structs from ``drm.h``.
* :mod:`~uio_driver.uapi.ioctls` - ``_IOC`` encoding, ``DRM_IOCTL_*`` numbers, :func:`decode`,
  dispatch tables keyed by ``nr``.
* :mod:`~uio_driver.uapi.usercopy` - ``copy_from_user``/``copy_to_user`` on real process
  addresses (EFAULT instead of a crash).
* :mod:`~uio_driver.uapi.uobj` - the obj_array / extensible-object rules of panthor_drv.c.

Constants and struct classes are reached through their modules (``structs.DRM_PANTHOR_...``);
the names below are the ones a front end uses on every call.
"""

from __future__ import annotations

from uio_driver.uapi import drm, ioctls, structs, uobj, usercopy
from uio_driver.uapi.drm import DRM_STRUCTS
from uio_driver.uapi.ioctls import DRM_CORE_IOCTLS, PANTHOR_IOCTLS, IoctlDesc, IoctlRequest, decode, lookup
from uio_driver.uapi.structs import PANTHOR_STRUCTS, DrmPanthorObjArray, UapiStruct
from uio_driver.uapi.uobj import TooBig, copy_struct_from_user, get_uobj_array, set_uobj
from uio_driver.uapi.usercopy import address_of, clear_user, copy_from_user, copy_to_user

__all__ = [
    "DRM_CORE_IOCTLS",
    "DRM_STRUCTS",
    "PANTHOR_IOCTLS",
    "PANTHOR_STRUCTS",
    "DrmPanthorObjArray",
    "IoctlDesc",
    "IoctlRequest",
    "TooBig",
    "UapiStruct",
    "address_of",
    "clear_user",
    "copy_from_user",
    "copy_struct_from_user",
    "copy_to_user",
    "decode",
    "drm",
    "get_uobj_array",
    "ioctls",
    "lookup",
    "set_uobj",
    "structs",
    "uobj",
    "usercopy",
]
