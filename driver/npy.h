/* npy.h: reading and writing NumPy .npy files (format 1.0, 2.0, 3.0),
 * little-endian, C order.
 *
 *   IrTensor t;
 *   if (!npy_load("x.npy", IR_F32, &t, &d)) ... d.msg names the file
 *   npy_save("out/y.npy", &t, &d);
 *
 * Element types read: <f4, <f8, <f2 into float dtypes (rounded to the
 * dtype); <i4, <i8, |i1 into int dtypes (an out-of-range value is an
 * error); <u2 into bf16 only, as the raw bf16 bits (the top half of an
 * f32), since NumPy has no bf16. Written: f32 as <f4, f16 as <f2, bf16 as
 * <f4 (exact), i32 as <i4, i64 as <i8, i8 and i4 as |i1.
 */
#ifndef KILN_NPY_H
#define KILN_NPY_H

#include "interp.h"

/* Loads path as a tensor of dtype `want`; the shape comes from the file.
 * The caller frees *out with ir_tensor_free. */
bool npy_load(const char *path, IrDType want, IrTensor *out, IrDiag *d);
/* Writes t to path through a temporary file. */
bool npy_save(const char *path, const IrTensor *t, IrDiag *d);

#endif
