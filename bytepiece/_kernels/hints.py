"""A hint to the CPU from inside kernels: load an array element into the cache now, because
it will be read soon (``llvm.prefetch``; no effect on any result).

Look-ups in tables far larger than the caches (the n-gram model at 1 GB of text is over
500 MB) wait on memory one after the other when each depends on a branch; a prefetch a
few positions ahead lets those waits overlap.
"""

from llvmlite import ir
from numba import config
from numba.core import cgutils, types
from numba.core.extending import intrinsic


@intrinsic
def _prefetch(typingctx, array, index):
    """Prefetch ``array[index]`` for reading (a C-contiguous 1-d array; no bounds check:
    a prefetch of an address past the end does nothing)."""
    signature = types.void(array, index)

    def codegen(context, builder, sig, args):
        array_type = sig.args[0]
        data = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, data, [args[1]],
                                           wraparound=False, boundscheck=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0")
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(function, [builder.bitcast(pointer, byte_pointer), ir.Constant(i32, 0),
                                ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return signature, codegen


def _no_prefetch(array, index):
    """Plain Python (NUMBA_DISABLE_JIT=1): nothing to hint."""


prefetch = _no_prefetch if config.DISABLE_JIT else _prefetch
