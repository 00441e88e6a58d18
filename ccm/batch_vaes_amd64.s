//go:build amd64 && !purego

// stepsVAES: the lane kernel on VAES with 512-bit registers, four lanes
// per register (lane 4g+q in 128-bit lane q of group g). Needs AVX-512F
// and VAES.
//
// Registers:
//   Z0-Z3    CBC-MACs of lane groups 0-3
//   Z4-Z7    CTR blocks of groups 0-3
//   Z8-Z11   A_0 XOR round key 0 of groups 0-3
//   Z12-Z15  MAC and CTR inputs on their way in
//   Z16      round key 0, then round key 0 XOR round key [rounds]
//   Z17-Z29  round keys 1-13
//   Z30      round key [rounds]
//   Z31      the step's counter, in bytes 14..15 of each 128-bit lane
//   K1       0xaa: the upper quadwords, for building Z31
//   AX job, CX steps left, DX offset of the step in the lane buffers,
//   R9 counter of the step, R12 rounds, R8 scratch.
// Round keys are broadcast to the four 128-bit lanes of their register.
//
// The CBC-MACs are the critical path: a sector's blocks go through AES
// one after the other. One round of a step issues 8 independent VAESENCs
// (4 in MAC-only steps) of four blocks each, and the XOR of a MAC with its
// next input block is folded into the previous VAESENCLAST's key, so a
// step costs about rounds times the instruction's latency.
//
// Memory order: a step reads its CTR inputs before it writes its CTR
// outputs, and reads the next step's MAC inputs after that; so ctrOut may
// alias ctrIn, and a MAC input may be a block written by an earlier step.

#include "textflag.h"
#include "go_asm.h"

// LOAD4 gathers the blocks at offset DX of the four lanes i..i+3 of the
// pointer array at offset arr of the job into Z (X is its low part).
#define LOAD4(arr, i, Z, X) \
	MOVQ         (arr+8*i)(AX), R8; \
	VMOVDQU      (R8)(DX*1), X; \
	MOVQ         (arr+8*i+8)(AX), R8; \
	VINSERTI32X4 $1, (R8)(DX*1), Z, Z; \
	MOVQ         (arr+8*i+16)(AX), R8; \
	VINSERTI32X4 $2, (R8)(DX*1), Z, Z; \
	MOVQ         (arr+8*i+24)(AX), R8; \
	VINSERTI32X4 $3, (R8)(DX*1), Z, Z

// STORE4 scatters Z to offset DX of the ctrOut buffers of lanes i..i+3.
#define STORE4(i, Z, X) \
	MOVQ          (laneJob_ctrOut+8*i)(AX), R8; \
	VMOVDQU       X, (R8)(DX*1); \
	MOVQ          (laneJob_ctrOut+8*i+8)(AX), R8; \
	VEXTRACTI32X4 $1, Z, (R8)(DX*1); \
	MOVQ          (laneJob_ctrOut+8*i+16)(AX), R8; \
	VEXTRACTI32X4 $2, Z, (R8)(DX*1); \
	MOVQ          (laneJob_ctrOut+8*i+24)(AX), R8; \
	VEXTRACTI32X4 $3, Z, (R8)(DX*1)

// MACLOAD4 loads the MAC inputs of the four groups at offset DX into
// Z12-Z15.
#define MACLOAD4 \
	LOAD4(laneJob_macIn, 0, Z12, X12); \
	LOAD4(laneJob_macIn, 4, Z13, X13); \
	LOAD4(laneJob_macIn, 8, Z14, X14); \
	LOAD4(laneJob_macIn, 12, Z15, X15)

// MACNEXT ends the MAC round of a step that another follows: it loads the
// next step's inputs and makes (last round key XOR round key 0 XOR input)
// the key of VAESENCLAST, which so also starts the next block.
#define MACNEXT \
	ADDQ        $16, DX; \
	MACLOAD4; \
	VPXORQ      Z16, Z12, Z12; \
	VPXORQ      Z16, Z13, Z13; \
	VPXORQ      Z16, Z14, Z14; \
	VPXORQ      Z16, Z15, Z15; \
	VAESENCLAST Z12, Z0, Z0; \
	VAESENCLAST Z13, Z1, Z1; \
	VAESENCLAST Z14, Z2, Z2; \
	VAESENCLAST Z15, Z3, Z3

#define ROUND4(k) \
	VAESENC k, Z0, Z0; \
	VAESENC k, Z1, Z1; \
	VAESENC k, Z2, Z2; \
	VAESENC k, Z3, Z3

#define ROUND8(k) \
	ROUND4(k); \
	VAESENC k, Z4, Z4; \
	VAESENC k, Z5, Z5; \
	VAESENC k, Z6, Z6; \
	VAESENC k, Z7, Z7

#define LAST4 \
	VAESENCLAST Z30, Z0, Z0; \
	VAESENCLAST Z30, Z1, Z1; \
	VAESENCLAST Z30, Z2, Z2; \
	VAESENCLAST Z30, Z3, Z3

// func stepsVAES(rk *byte, rounds int, j *laneJob, steps, ctr int)
TEXT ·stepsVAES(SB), NOSPLIT, $0-40
	MOVQ rk+0(FP), SI
	MOVQ rounds+8(FP), R12
	MOVQ j+16(FP), AX
	MOVQ steps+24(FP), CX
	MOVQ ctr+32(FP), R9

	VBROADCASTI32X4 (16*0)(SI), Z16
	VBROADCASTI32X4 (16*1)(SI), Z17
	VBROADCASTI32X4 (16*2)(SI), Z18
	VBROADCASTI32X4 (16*3)(SI), Z19
	VBROADCASTI32X4 (16*4)(SI), Z20
	VBROADCASTI32X4 (16*5)(SI), Z21
	VBROADCASTI32X4 (16*6)(SI), Z22
	VBROADCASTI32X4 (16*7)(SI), Z23
	VBROADCASTI32X4 (16*8)(SI), Z24
	VBROADCASTI32X4 (16*9)(SI), Z25
	VBROADCASTI32X4 (16*10)(SI), Z26
	VBROADCASTI32X4 (16*11)(SI), Z27
	VBROADCASTI32X4 (16*12)(SI), Z28
	VBROADCASTI32X4 (16*13)(SI), Z29
	MOVQ            R12, R8
	SHLQ            $4, R8
	VBROADCASTI32X4 (SI)(R8*1), Z30

	MOVL  $0xaa, R8
	KMOVW R8, K1

	VMOVDQU64 (laneJob_mac+64*0)(AX), Z0
	VMOVDQU64 (laneJob_mac+64*1)(AX), Z1
	VMOVDQU64 (laneJob_mac+64*2)(AX), Z2
	VMOVDQU64 (laneJob_mac+64*3)(AX), Z3
	VPXORQ    (laneJob_a0+64*0)(AX), Z16, Z8
	VPXORQ    (laneJob_a0+64*1)(AX), Z16, Z9
	VPXORQ    (laneJob_a0+64*2)(AX), Z16, Z10
	VPXORQ    (laneJob_a0+64*3)(AX), Z16, Z11

	XORQ  DX, DX
	TESTQ CX, CX
	JLE   done

	// Start the first block: MAC XOR input XOR round key 0. From here on
	// Z16 holds round key 0 XOR the last round key (see MACNEXT).
	MACLOAD4
	VPTERNLOGD $0x96, Z16, Z12, Z0
	VPTERNLOGD $0x96, Z16, Z13, Z1
	VPTERNLOGD $0x96, Z16, Z14, Z2
	VPTERNLOGD $0x96, Z16, Z15, Z3
	VPXORQ     Z30, Z16, Z16

	TESTQ R9, R9
	JS    macloop

ctrloop:
	// Counter blocks: bytes 14..15 of each lane = R9 big-endian, i.e. the
	// high 16 bits of the upper quadword = R9 byte-swapped.
	MOVQ           R9, R8
	ROLW           $8, R8
	SHLQ           $48, R8
	VPBROADCASTQ.Z R8, K1, Z31
	VPXORQ         Z31, Z8, Z4
	VPXORQ         Z31, Z9, Z5
	VPXORQ         Z31, Z10, Z6
	VPXORQ         Z31, Z11, Z7

	ROUND8(Z17)
	ROUND8(Z18)
	ROUND8(Z19)
	ROUND8(Z20)
	ROUND8(Z21)
	ROUND8(Z22)
	ROUND8(Z23)
	ROUND8(Z24)
	ROUND8(Z25)
	CMPQ R12, $12
	JB   ctrlast
	ROUND8(Z26)
	ROUND8(Z27)
	JE   ctrlast
	ROUND8(Z28)
	ROUND8(Z29)

ctrlast:
	// CTR output = VAESENCLAST with (last round key XOR input) as its
	// key. All of this step's inputs are in registers before the stores.
	LOAD4(laneJob_ctrIn, 0, Z12, X12)
	LOAD4(laneJob_ctrIn, 4, Z13, X13)
	LOAD4(laneJob_ctrIn, 8, Z14, X14)
	LOAD4(laneJob_ctrIn, 12, Z15, X15)
	VPXORQ      Z30, Z12, Z12
	VPXORQ      Z30, Z13, Z13
	VPXORQ      Z30, Z14, Z14
	VPXORQ      Z30, Z15, Z15
	VAESENCLAST Z12, Z4, Z4
	VAESENCLAST Z13, Z5, Z5
	VAESENCLAST Z14, Z6, Z6
	VAESENCLAST Z15, Z7, Z7
	STORE4(0, Z4, X4)
	STORE4(4, Z5, X5)
	STORE4(8, Z6, X6)
	STORE4(12, Z7, X7)

	INCQ R9
	DECQ CX
	JZ   last
	MACNEXT
	JMP  ctrloop

macloop:
	ROUND4(Z17)
	ROUND4(Z18)
	ROUND4(Z19)
	ROUND4(Z20)
	ROUND4(Z21)
	ROUND4(Z22)
	ROUND4(Z23)
	ROUND4(Z24)
	ROUND4(Z25)
	CMPQ R12, $12
	JB   maclast
	ROUND4(Z26)
	ROUND4(Z27)
	JE   maclast
	ROUND4(Z28)
	ROUND4(Z29)

maclast:
	DECQ CX
	JZ   last
	MACNEXT
	JMP  macloop

last:
	LAST4

done:
	VMOVDQU64 Z0, (laneJob_mac+64*0)(AX)
	VMOVDQU64 Z1, (laneJob_mac+64*1)(AX)
	VMOVDQU64 Z2, (laneJob_mac+64*2)(AX)
	VMOVDQU64 Z3, (laneJob_mac+64*3)(AX)
	VZEROUPPER
	RET
