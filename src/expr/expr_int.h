/*
 * expr_int.h - what the compiler (expr.c) and the machine (eval.c) share:
 * the instruction set and the layout of a compiled program.
 *
 * A program is straight-line code for a stack machine with forward jumps
 * only.  Each instruction knows its operand types; a value on the stack is
 * null or of the type the instruction expects (the compiler's types and
 * OP_LOAD_* see to it).  The code ends with OP_END, leaving one value.
 */
#ifndef FR_EXPR_INT_H
#define FR_EXPR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "expr/expr.h"

enum op {
    OP_END = 0,
    OP_CONST, /* push consts[a] */
    OP_LOAD_L, /* push inputs[a], read as a long */
    OP_LOAD_D, /* ... as a double (a long converted; not finite: null) */
    OP_LOAD_S,
    OP_LOAD_B,
    OP_I2D,   /* top: long -> double */
    OP_NEG_L,
    OP_NEG_D,
    OP_NOT,
    OP_ABS_L,
    OP_ABS_D,
    OP_LOG,
    OP_ADD_L,
    OP_SUB_L,
    OP_MUL_L,
    OP_MOD_L,
    OP_MIN_L,
    OP_MAX_L,
    OP_ADD_D,
    OP_SUB_D,
    OP_MUL_D,
    OP_DIV_D,
    OP_MOD_D,
    OP_MIN_D,
    OP_MAX_D,
    OP_CMP_L,  /* aux: the relation */
    OP_CMP_D,
    OP_CMP_LD, /* long (below) with double (top) */
    OP_CMP_DL,
    OP_CMP_S,
    OP_CMP_B,
    OP_AND,
    OP_OR,
    OP_JMP, /* to a */
    OP_IF,  /* pop c; null: push null, to b; false: to a */
    OP_JNN, /* top not null: to a (kept); else pop */
};

enum rel { R_EQ, R_NE, R_LT, R_LE, R_GT, R_GE };

typedef struct ins {
    uint8_t op, aux;
    uint32_t a, b;
} ins_t;

struct fr_expr {
    ins_t *code;
    fr_value_t *consts;
    char *pool; /* decoded strings the constants point into */
    fr_type_t type;
    size_t ninputs;
};

#endif
