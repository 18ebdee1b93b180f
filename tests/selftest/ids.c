/* The ".BTF_ids" of the selftest (edge-cases.md §1.2), resolved against btf_data.o's BTF. */
#include "btf_ids.h"

BTF_ID_LIST(test_list_local)
BTF_ID_UNUSED
BTF_ID(typedef, S)
BTF_ID(typedef, T)
BTF_ID(typedef, U)
BTF_ID(struct, S)
BTF_ID(union, U)
BTF_ID(func, func)

BTF_SET_START(test_set)
BTF_ID(typedef, S)
BTF_ID(typedef, T)
BTF_ID(typedef, U)
BTF_ID(struct, S)
BTF_ID(union, U)
BTF_ID(func, func)
BTF_SET_END(test_set)

BTF_KFUNCS_START(test_kfunc_set)
BTF_ID_FLAGS(func, kfunc_a, 0)
BTF_ID_FLAGS(func, kfunc_b, KF_FASTCALL)
BTF_ID_FLAGS(func, kfunc_c, KF_ARENA_RET | KF_ARENA_ARG1 | KF_ARENA_ARG2)
BTF_ID_FLAGS(func, kfunc_d, KF_ARENA_ARG2)
BTF_ID_FLAGS(func, kfunc_e, 0)
BTF_ID_FLAGS(func, kfunc_f, 0)
BTF_ID_FLAGS(func, kfunc_g, KF_ARENA_RET)
BTF_KFUNCS_END(test_kfunc_set)

BTF_KFUNCS_START(test_kfunc_set_rev)
BTF_ID_FLAGS(func, kfunc_g, KF_ARENA_RET)
BTF_ID_FLAGS(func, kfunc_f, 0)
BTF_ID_FLAGS(func, kfunc_e, 0)
BTF_ID_FLAGS(func, kfunc_d, KF_ARENA_ARG2)
BTF_ID_FLAGS(func, kfunc_c, KF_ARENA_RET | KF_ARENA_ARG1 | KF_ARENA_ARG2)
BTF_ID_FLAGS(func, kfunc_b, KF_FASTCALL)
BTF_ID_FLAGS(func, kfunc_a, 0)
BTF_KFUNCS_END(test_kfunc_set_rev)

/* the project's cases: implicit args, arena edges, a kfunc in two sets */
BTF_KFUNCS_START(test_kfunc_more)
BTF_ID_FLAGS(func, kfunc_impl_tail, KF_IMPLICIT_ARGS | KF_FASTCALL)
BTF_ID_FLAGS(func, kfunc_impl_mid, KF_IMPLICIT_ARGS)
BTF_ID_FLAGS(func, kfunc_impl_legacy, KF_IMPLICIT_ARGS)
BTF_ID_FLAGS(func, kfunc_impl_typedef, KF_IMPLICIT_ARGS)
BTF_ID_FLAGS(func, kfunc_impl_arena, KF_IMPLICIT_ARGS | KF_ARENA_RET)
BTF_ID_FLAGS(func, kfunc_arena_missing, KF_ARENA_ARG2)
BTF_ID_FLAGS(func, kfunc_twice, 0)
BTF_KFUNCS_END(test_kfunc_more)

/* a set8 without the kfuncs flag: not a kfunc set, never discovered */
BTF_SET8_START(test_not_kfuncs, 0)
BTF_ID_FLAGS(func, func, KF_FASTCALL)
BTF_SET8_END(test_not_kfuncs)

BTF_KFUNCS_START(test_kfunc_again)
BTF_ID_FLAGS(func, kfunc_twice, 0)
BTF_KFUNCS_END(test_kfunc_again)

BTF_ID_LIST_GLOBAL(test_list_global)
BTF_ID_UNUSED
BTF_ID(typedef, S)
BTF_ID(typedef, T)
BTF_ID(typedef, U)
BTF_ID(struct, S)
BTF_ID(union, U)
BTF_ID(func, func)
