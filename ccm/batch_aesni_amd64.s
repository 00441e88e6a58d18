//go:build amd64 && !purego

// stepsAESNI: the lane kernel on AES-NI with 128-bit registers.
//
// Registers: X0-X7 hold the CBC-MACs of the 8 lanes, X8-X15 their CTR
// blocks, so one round issues 16 independent AESENCs (two per cycle with a
// latency of four cycles keeps eight in flight). The round keys come from
// memory: legacy SSE needs 16-byte aligned memory operands, so they are
// copied into an aligned area of the frame (base in R10) first.
//
// Other registers: AX job, DI job + 8*first (lane pointer arrays), SI job
// + 16*first (MAC and A_0 blocks), CX steps left, DX offset of the step in
// the lane buffers, R9 counter of the step, R12 rounds, R8 scratch.

#include "textflag.h"
#include "go_asm.h"

// Offsets in the aligned area.
#define KEYS 0     // round keys 0..14
#define LASTK 240  // round key [rounds], for AESENCLAST
#define A0K 256    // A_0 XOR round key 0, 8 lanes
#define CTRB 384   // zero but for the counter in bytes 14..15
#define SPILL 400  // X7 while it serves as a temporary

#define COPYKEY(r) \
	MOVOU (16*r)(SI), X0; \
	MOVO  X0, (KEYS+16*r)(R10)

#define A0INIT(i) \
	MOVOU (laneJob_a0+16*i)(SI), X0; \
	PXOR  X8, X0; \
	MOVO  X0, (A0K+16*i)(R10)

// MACIN XORs the next MAC input block of lane i and round key 0 into X;
// X8 is free at this point of a step.
#define MACIN(i, X) \
	MOVQ  (laneJob_macIn+8*i)(DI), R8; \
	MOVOU (R8)(DX*1), X8; \
	PXOR  X8, X; \
	PXOR  KEYS(R10), X

// CTRIN sets X to A_c XOR round key 0 for lane i.
#define CTRIN(i, X) \
	MOVO (A0K+16*i)(R10), X; \
	PXOR CTRB(R10), X

// CTROUT finishes lane i's keystream block in X and writes ctrIn XOR it
// to ctrOut: AESENCLAST with (round key XOR input) as its key yields the
// output directly. X7 is the temporary.
#define CTROUT(i, X) \
	MOVQ       (laneJob_ctrIn+8*i)(DI), R8; \
	MOVOU      (R8)(DX*1), X7; \
	PXOR       LASTK(R10), X7; \
	AESENCLAST X7, X; \
	MOVQ       (laneJob_ctrOut+8*i)(DI), R8; \
	MOVOU      X, (R8)(DX*1)

#define ROUND8(k) \
	AESENC k(R10), X0; \
	AESENC k(R10), X1; \
	AESENC k(R10), X2; \
	AESENC k(R10), X3; \
	AESENC k(R10), X4; \
	AESENC k(R10), X5; \
	AESENC k(R10), X6; \
	AESENC k(R10), X7

#define ROUND16(k) \
	ROUND8(k); \
	AESENC k(R10), X8; \
	AESENC k(R10), X9; \
	AESENC k(R10), X10; \
	AESENC k(R10), X11; \
	AESENC k(R10), X12; \
	AESENC k(R10), X13; \
	AESENC k(R10), X14; \
	AESENC k(R10), X15

#define LAST8 \
	AESENCLAST LASTK(R10), X0; \
	AESENCLAST LASTK(R10), X1; \
	AESENCLAST LASTK(R10), X2; \
	AESENCLAST LASTK(R10), X3; \
	AESENCLAST LASTK(R10), X4; \
	AESENCLAST LASTK(R10), X5; \
	AESENCLAST LASTK(R10), X6; \
	AESENCLAST LASTK(R10), X7

#define MACIN8 \
	MACIN(0, X0); \
	MACIN(1, X1); \
	MACIN(2, X2); \
	MACIN(3, X3); \
	MACIN(4, X4); \
	MACIN(5, X5); \
	MACIN(6, X6); \
	MACIN(7, X7)

// func stepsAESNI(rk *byte, rounds int, j *laneJob, first, steps, ctr int)
TEXT ·stepsAESNI(SB), NOSPLIT, $432-48
	MOVQ rk+0(FP), SI
	MOVQ rounds+8(FP), R12
	MOVQ j+16(FP), AX
	MOVQ first+24(FP), BX
	MOVQ steps+32(FP), CX
	MOVQ ctr+40(FP), R9

	// The aligned area: 416 bytes from the first 16-byte boundary at or
	// above SP, inside the 432-byte frame.
	LEAQ 15(SP), R10
	ANDQ $~15, R10

	COPYKEY(0)
	COPYKEY(1)
	COPYKEY(2)
	COPYKEY(3)
	COPYKEY(4)
	COPYKEY(5)
	COPYKEY(6)
	COPYKEY(7)
	COPYKEY(8)
	COPYKEY(9)
	COPYKEY(10)
	COPYKEY(11)
	COPYKEY(12)
	COPYKEY(13)
	COPYKEY(14)
	MOVQ  R12, R8
	SHLQ  $4, R8
	MOVOU (SI)(R8*1), X0
	MOVO  X0, LASTK(R10)

	LEAQ (AX)(BX*8), DI
	SHLQ $4, BX
	LEAQ (AX)(BX*1), SI

	MOVO KEYS(R10), X8
	A0INIT(0)
	A0INIT(1)
	A0INIT(2)
	A0INIT(3)
	A0INIT(4)
	A0INIT(5)
	A0INIT(6)
	A0INIT(7)
	PXOR X0, X0
	MOVO X0, CTRB(R10)

	MOVOU (laneJob_mac+16*0)(SI), X0
	MOVOU (laneJob_mac+16*1)(SI), X1
	MOVOU (laneJob_mac+16*2)(SI), X2
	MOVOU (laneJob_mac+16*3)(SI), X3
	MOVOU (laneJob_mac+16*4)(SI), X4
	MOVOU (laneJob_mac+16*5)(SI), X5
	MOVOU (laneJob_mac+16*6)(SI), X6
	MOVOU (laneJob_mac+16*7)(SI), X7

	XORQ  DX, DX
	TESTQ CX, CX
	JLE   done
	TESTQ R9, R9
	JS    macloop

ctrloop:
	MACIN8

	// Counter block: bytes 14..15 = R9 big-endian, i.e. the high 16 bits
	// of the upper quadword = R9 byte-swapped.
	MOVQ R9, R8
	ROLW $8, R8
	SHLQ $48, R8
	MOVQ R8, (CTRB+8)(R10)
	CTRIN(0, X8)
	CTRIN(1, X9)
	CTRIN(2, X10)
	CTRIN(3, X11)
	CTRIN(4, X12)
	CTRIN(5, X13)
	CTRIN(6, X14)
	CTRIN(7, X15)

	ROUND16(KEYS+16*1)
	ROUND16(KEYS+16*2)
	ROUND16(KEYS+16*3)
	ROUND16(KEYS+16*4)
	ROUND16(KEYS+16*5)
	ROUND16(KEYS+16*6)
	ROUND16(KEYS+16*7)
	ROUND16(KEYS+16*8)
	ROUND16(KEYS+16*9)
	CMPQ R12, $12
	JB   ctrlast
	ROUND16(KEYS+16*10)
	ROUND16(KEYS+16*11)
	JE   ctrlast
	ROUND16(KEYS+16*12)
	ROUND16(KEYS+16*13)

ctrlast:
	LAST8
	MOVO X7, SPILL(R10)
	CTROUT(0, X8)
	CTROUT(1, X9)
	CTROUT(2, X10)
	CTROUT(3, X11)
	CTROUT(4, X12)
	CTROUT(5, X13)
	CTROUT(6, X14)
	CTROUT(7, X15)
	MOVO SPILL(R10), X7

	ADDQ $16, DX
	INCQ R9
	DECQ CX
	JNZ  ctrloop
	JMP  done

macloop:
	MACIN8
	ROUND8(KEYS+16*1)
	ROUND8(KEYS+16*2)
	ROUND8(KEYS+16*3)
	ROUND8(KEYS+16*4)
	ROUND8(KEYS+16*5)
	ROUND8(KEYS+16*6)
	ROUND8(KEYS+16*7)
	ROUND8(KEYS+16*8)
	ROUND8(KEYS+16*9)
	CMPQ R12, $12
	JB   maclast
	ROUND8(KEYS+16*10)
	ROUND8(KEYS+16*11)
	JE   maclast
	ROUND8(KEYS+16*12)
	ROUND8(KEYS+16*13)

maclast:
	LAST8
	ADDQ $16, DX
	DECQ CX
	JNZ  macloop

done:
	MOVOU X0, (laneJob_mac+16*0)(SI)
	MOVOU X1, (laneJob_mac+16*1)(SI)
	MOVOU X2, (laneJob_mac+16*2)(SI)
	MOVOU X3, (laneJob_mac+16*3)(SI)
	MOVOU X4, (laneJob_mac+16*4)(SI)
	MOVOU X5, (laneJob_mac+16*5)(SI)
	MOVOU X6, (laneJob_mac+16*6)(SI)
	MOVOU X7, (laneJob_mac+16*7)(SI)
	RET
