/* The module's ".BTF_ids": one kfunc set; kfunc_a lives only in the base BTF, so the
 * module has no own FUNC for it (warning, no tags). */
#include "btf_ids.h"

BTF_KFUNCS_START(mod_kfunc_set)
BTF_ID_FLAGS(func, mod_kfunc_fast, KF_FASTCALL)
BTF_ID_FLAGS(func, func, 0)
BTF_ID_FLAGS(func, mod_kfunc_arena, KF_ARENA_RET)
BTF_ID_FLAGS(func, mod_kfunc_impl, KF_IMPLICIT_ARGS)
BTF_ID_FLAGS(func, kfunc_a, 0)
BTF_KFUNCS_END(mod_kfunc_set)

BTF_ID_LIST(mod_list)
BTF_ID(struct, root_struct)
BTF_ID(func, mod_kfunc_impl)
BTF_ID(func, mod_kfunc_impl_impl)
