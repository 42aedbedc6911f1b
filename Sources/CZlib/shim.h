#ifndef MFA_CZLIB_SHIM_H
#define MFA_CZLIB_SHIM_H

// zlib, for HdrHistogram's standard (deflate-compressed) encoding.
#include <zlib.h>

#endif
