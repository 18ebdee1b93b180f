/* Minimal .BTF_ids emitters for the btfids tests (same symbol shapes as the kernel's
 * include/linux/btf_ids.h, written independently):
 *
 *   __BTF_ID__<kind>__<name>__<n>   4-byte placeholder, later the BTF ID
 *   __BTF_ID__set__<name>           u32 cnt, then u32 IDs; size = 4 + 4 * cnt
 *   __BTF_ID__set8__<name>          u32 cnt, u32 flags, then (u32 id, u32 flags) pairs
 *
 * Every emitter is a top-level asm statement pushing into section .BTF_ids.
 */
#ifndef BTFIDS_TEST_BTF_IDS_H
#define BTFIDS_TEST_BTF_IDS_H

#define T_STR_(x) #x
#define T_STR(x) T_STR_(x)

#define KF_FASTCALL      (1 << 12)
#define KF_ARENA_RET     (1 << 13)
#define KF_ARENA_ARG1    (1 << 14)
#define KF_ARENA_ARG2    (1 << 15)
#define KF_IMPLICIT_ARGS (1 << 16)
#define BTF_SET8_KFUNCS  (1 << 0)

#define T_PUSH ".pushsection .BTF_ids,\"a\"\n"
#define T_POP  ".popsection\n"

/* a label that the tool ignores (no __BTF_ID__ prefix) */
#define T_LABEL(name, scope) asm(T_PUSH ".balign 4\n" scope " " #name "\n" #name ":\n" T_POP);

/* one placeholder word; u is the unique suffix (already expanded) */
#define T_ID_SYM(sym)                                                                   \
	asm(T_PUSH ".local " sym "\n.type " sym ", STT_OBJECT\n.size " sym ", 4\n"     \
	    sym ":\n.zero 4\n" T_POP);
#define T_ID_U(kind, name, u) T_ID_SYM("__BTF_ID__" #kind "__" #name "__" #u)
#define T_ID_X(kind, name, u) T_ID_U(kind, name, u)

#define BTF_ID(kind, name) T_ID_X(kind, name, __COUNTER__)
#define BTF_ID_UNUSED asm(T_PUSH ".zero 4\n" T_POP);
#define BTF_ID_FLAGS(kind, name, flags)                                                \
	BTF_ID(kind, name)                                                              \
	asm(T_PUSH ".long " T_STR(flags) "\n" T_POP);

#define BTF_ID_LIST(name) T_LABEL(name, ".local") extern unsigned int name[];
#define BTF_ID_LIST_GLOBAL(name) T_LABEL(name, ".globl") extern unsigned int name[];

/* sets: the label <name> marks the start so that the END macro can size the set */
#define BTF_SET_START(name)                                                             \
	asm(T_PUSH ".balign 4\n.local " #name "\n" #name ":\n"                          \
	    ".local __BTF_ID__set__" #name "\n.type __BTF_ID__set__" #name ", STT_OBJECT\n" \
	    "__BTF_ID__set__" #name ":\n.zero 4\n" T_POP);
#define BTF_SET_END(name)                                                               \
	asm(T_PUSH ".size __BTF_ID__set__" #name ", . - " #name "\n" T_POP);           \
	extern unsigned int name[];

#define BTF_SET8_START(name, flags)                                                     \
	asm(T_PUSH ".balign 8\n.local " #name "\n" #name ":\n"                          \
	    ".local __BTF_ID__set8__" #name "\n.type __BTF_ID__set8__" #name ", STT_OBJECT\n" \
	    "__BTF_ID__set8__" #name ":\n.zero 4\n.long " T_STR(flags) "\n" T_POP);
#define BTF_SET8_END(name)                                                              \
	asm(T_PUSH ".size __BTF_ID__set8__" #name ", . - " #name "\n" T_POP);          \
	extern unsigned int name[];

#define BTF_KFUNCS_START(name) BTF_SET8_START(name, BTF_SET8_KFUNCS)
#define BTF_KFUNCS_END(name) BTF_SET8_END(name)

#endif
