;; GradProof's sweep kernels: the incremental evaluator's innermost loops for the
;; common shape (ReLU hidden layers, one sigmoid output, binary cross-entropy), as
;; WebAssembly. Each function is a line-for-line port of its TypeScript original in
;; app/core/model/evaluator.ts, with the same floating-point operations in the same
;; order, so the results are the same bit for bit (tests/unit/wasm-kernels.test.ts).
;; WebAssembly runs them at full speed from the first call: no warm-up in each new
;; worker thread, and about twice the speed of the JavaScript loops.
;;
;; Pointers are byte offsets into the imported memory; f64 arrays are 8-byte, i32
;; arrays 4-byte aligned. Built into kernels-wasm.ts by scripts/build-wasm.mjs.
(module
  (import "env" "memory" (memory 1))
  (import "math" "exp" (func $exp (param f64) (result f64)))
  (import "math" "log" (func $log (param f64) (result f64)))

  ;; Kinks counted by the last moveActive / reluIntoSingleOutput.
  (global $kinks (export "kinks") (mut i32) (i32.const 0))

  ;; IncrementalEvaluator.moveActive: a ReLU row moved by a rank-one step, over the
  ;; unit's active examples active[from … to) (all with zb > 0, so A = zb). Writes the
  ;; changed examples to cols/dA; returns their count; kinks = those pushed to z ≤ 0.
  (func (export "moveActive")
    (param $active i32) (param $from i32) (param $to i32) (param $zl i32) (param $prev i32)
    (param $step f64) (param $cols i32) (param $dA i32) (result i32)
    (local $t i32) (local $c i32) (local $zb f64) (local $z f64) (local $a f64) (local $nc i32) (local $k i32)
    (local.set $t (local.get $from))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $t) (local.get $to)))
        (local.set $c (i32.load (i32.add (local.get $active) (i32.shl (local.get $t) (i32.const 2)))))
        (local.set $zb (f64.load (i32.add (local.get $zl) (i32.shl (local.get $c) (i32.const 3)))))
        (local.set $z
          (f64.add (local.get $zb)
            (f64.mul (local.get $step) (f64.load (i32.add (local.get $prev) (i32.shl (local.get $c) (i32.const 3)))))))
        ;; a = z > 0 ? z : 0; kinks += z > 0 ? 0 : 1
        (local.set $a (select (local.get $z) (f64.const 0) (f64.gt (local.get $z) (f64.const 0))))
        (local.set $k (i32.add (local.get $k) (i32.eqz (f64.gt (local.get $z) (f64.const 0)))))
        (i32.store (i32.add (local.get $cols) (i32.shl (local.get $nc) (i32.const 2))) (local.get $c))
        (f64.store (i32.add (local.get $dA) (i32.shl (local.get $nc) (i32.const 3))) (f64.sub (local.get $a) (local.get $zb)))
        (local.set $nc (i32.add (local.get $nc) (f64.ne (local.get $a) (local.get $zb))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $next)))
    (global.set $kinks (local.get $k))
    (local.get $nc))

  ;; reluIntoSingleOutput: per changed example c = cols[t] with ΔA d = dA[t], the
  ;; output pre-activation: ZL[c] + d·slope[c] inside the linear region, else the R
  ;; pre-activations of layer l+1 (example-major Zt) updated, kink-counted, ReLU'd and
  ;; folded into the output in matmul's order. Returns the kinks.
  (func (export "reluIntoSingleOutput")
    (param $nc i32) (param $cols i32) (param $dA i32) (param $margin i32) (param $slope i32)
    (param $ZL i32) (param $Zt i32) (param $R i32) (param $wcol i32) (param $wl i32) (param $b f64) (param $zL i32)
    (result i32)
    (local $t i32) (local $c i32) (local $d f64) (local $base i32) (local $r i32) (local $acc f64)
    (local $zb f64) (local $z f64) (local $k i32) (local $c8 i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $t) (local.get $nc)))
        (local.set $c (i32.load (i32.add (local.get $cols) (i32.shl (local.get $t) (i32.const 2)))))
        (local.set $c8 (i32.shl (local.get $c) (i32.const 3)))
        (local.set $d (f64.load (i32.add (local.get $dA) (i32.shl (local.get $t) (i32.const 3)))))
        (if (f64.lt (f64.abs (local.get $d)) (f64.mul (f64.const 0.5) (f64.load (i32.add (local.get $margin) (local.get $c8)))))
          (then
            (f64.store (i32.add (local.get $zL) (i32.shl (local.get $t) (i32.const 3)))
              (f64.add (f64.load (i32.add (local.get $ZL) (local.get $c8)))
                (f64.mul (local.get $d) (f64.load (i32.add (local.get $slope) (local.get $c8))))))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $next)))
        (local.set $base (i32.add (local.get $Zt) (i32.shl (i32.mul (local.get $c) (local.get $R)) (i32.const 3))))
        (local.set $acc (f64.const 0))
        (local.set $r (i32.const 0))
        (block $rows
          (loop $row
            (br_if $rows (i32.ge_s (local.get $r) (local.get $R)))
            (local.set $zb (f64.load (i32.add (local.get $base) (i32.shl (local.get $r) (i32.const 3)))))
            (local.set $z
              (f64.add (local.get $zb)
                (f64.mul (f64.load (i32.add (local.get $wcol) (i32.shl (local.get $r) (i32.const 3)))) (local.get $d))))
            ;; if (zb·z <= 0 && zb !== z) kinks++
            (local.set $k (i32.add (local.get $k)
              (i32.and (f64.le (f64.mul (local.get $zb) (local.get $z)) (f64.const 0)) (f64.ne (local.get $zb) (local.get $z)))))
            (local.set $acc (f64.add (local.get $acc)
              (f64.mul (f64.load (i32.add (local.get $wl) (i32.shl (local.get $r) (i32.const 3)))) (f64.max (local.get $z) (f64.const 0)))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $row)))
        (f64.store (i32.add (local.get $zL) (i32.shl (local.get $t) (i32.const 3)))
          (select (f64.add (local.get $acc) (local.get $b)) (local.get $acc) (f64.ne (local.get $b) (f64.const 0))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $next)))
    (global.set $kinks (local.get $k))
    (local.get $k))

  ;; IncrementalEvaluator.rankOneRow: zL[t] = Zb[cols[t]] + w·dA[t], one row of a rank-one update.
  (func (export "rankOneRow")
    (param $nc i32) (param $cols i32) (param $dA i32) (param $Zb i32) (param $w f64) (param $zL i32)
    (local $t i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $t) (local.get $nc)))
        (f64.store (i32.add (local.get $zL) (i32.shl (local.get $t) (i32.const 3)))
          (f64.add
            (f64.load (i32.add (local.get $Zb) (i32.shl (i32.load (i32.add (local.get $cols) (i32.shl (local.get $t) (i32.const 2)))) (i32.const 3))))
            (f64.mul (local.get $w) (f64.load (i32.add (local.get $dA) (i32.shl (local.get $t) (i32.const 3)))))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $next))))

  ;; outputMoved: the output row moved by step·prev (prev = ones for a bias), the
  ;; examples whose pre-activation changed collected with it into cols/zL.
  (func (export "outputMoved")
    (param $m i32) (param $zb i32) (param $prev i32) (param $step f64) (param $cols i32) (param $zL i32) (result i32)
    (local $c i32) (local $nc i32) (local $z f64) (local $c8 i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $c) (local.get $m)))
        (local.set $c8 (i32.shl (local.get $c) (i32.const 3)))
        (local.set $z (f64.add (f64.load (i32.add (local.get $zb) (local.get $c8)))
          (f64.mul (local.get $step) (f64.load (i32.add (local.get $prev) (local.get $c8))))))
        (i32.store (i32.add (local.get $cols) (i32.shl (local.get $nc) (i32.const 2))) (local.get $c))
        (f64.store (i32.add (local.get $zL) (i32.shl (local.get $nc) (i32.const 3))) (local.get $z))
        (local.set $nc (i32.add (local.get $nc) (f64.ne (local.get $z) (f64.load (i32.add (local.get $zb) (local.get $c8))))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $next)))
    (local.get $nc))

  ;; sigmoidCrossEntropyCost's loop: Σ over the changed examples of the change of
  ;; their loss, by the cubic series while |δ| ≤ 4e-6 with a 0/1 label, else exp and
  ;; log at the new output, in t order.
  (func (export "sigmoidCrossEntropyDelta")
    (param $nc i32) (param $cols i32) (param $zL i32) (param $ZL i32) (param $q i32) (param $sign i32)
    (param $Y i32) (param $base i32) (result f64)
    (local $t i32) (local $c8 i32) (local $z f64) (local $d f64) (local $s f64) (local $x f64) (local $e f64)
    (local $w f64) (local $a f64) (local $y f64) (local $loss f64) (local $delta f64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $t) (local.get $nc)))
        (local.set $c8 (i32.shl (i32.load (i32.add (local.get $cols) (i32.shl (local.get $t) (i32.const 2)))) (i32.const 3)))
        (local.set $z (f64.load (i32.add (local.get $zL) (i32.shl (local.get $t) (i32.const 3)))))
        (local.set $d (f64.sub (local.get $z) (f64.load (i32.add (local.get $ZL) (local.get $c8)))))
        (local.set $s (f64.load (i32.add (local.get $sign) (local.get $c8))))
        (if (i32.and (f64.ne (local.get $s) (f64.const 0)) (f64.le (f64.abs (local.get $d)) (f64.const 0x1.0c6f7a0b5ed8dp-18)))
          (then
            (local.set $x (f64.mul (local.get $s) (local.get $d)))
            ;; e = x·(1 + x·(0.5 + x·(1/6)))
            (local.set $e (f64.mul (local.get $x)
              (f64.add (f64.const 1) (f64.mul (local.get $x)
                (f64.add (f64.const 0.5) (f64.mul (local.get $x) (f64.const 0x1.5555555555555p-3)))))))
            (local.set $w (f64.mul (f64.load (i32.add (local.get $q) (local.get $c8))) (local.get $e)))
            ;; delta += w·(1 − w·(0.5 − w·(1/3)))
            (local.set $delta (f64.add (local.get $delta) (f64.mul (local.get $w)
              (f64.sub (f64.const 1) (f64.mul (local.get $w)
                (f64.sub (f64.const 0.5) (f64.mul (local.get $w) (f64.const 0x1.5555555555555p-2))))))))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $next)))
        (local.set $a (f64.div (f64.const 1) (f64.add (f64.const 1) (call $exp (f64.neg (local.get $z))))))
        (local.set $y (f64.load (i32.add (local.get $Y) (local.get $c8))))
        (if (i32.or (f64.eq (local.get $y) (f64.const 0)) (f64.eq (local.get $y) (f64.const 1)))
          (then
            ;; -log(y·a + (1 − y)·(1 − a))
            (local.set $loss (f64.neg (call $log (f64.add (f64.mul (local.get $y) (local.get $a))
              (f64.mul (f64.sub (f64.const 1) (local.get $y)) (f64.sub (f64.const 1) (local.get $a))))))))
          (else
            ;; -log(a)·y + -log(1 − a)·(1 − y)
            (local.set $loss (f64.add
              (f64.mul (f64.neg (call $log (local.get $a))) (local.get $y))
              (f64.mul (f64.neg (call $log (f64.sub (f64.const 1) (local.get $a)))) (f64.sub (f64.const 1) (local.get $y)))))))
        (local.set $delta (f64.add (local.get $delta)
          (f64.sub (f64.add (f64.const 0) (local.get $loss)) (f64.load (i32.add (local.get $base) (local.get $c8))))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $next)))
    (local.get $delta))

  ;; tensor.ts's ProductKernel: C = A·B (A m×k, B k×n, row-major), each C[i,j] summed
  ;; over p in order with zero A[i,p] skipped. Four rows of B per pass over C[i,:]
  ;; when none of their coefficients is zero (the same sums, one term at a time).
  (func $product (export "product")
    (param $A i32) (param $m i32) (param $k i32) (param $B i32) (param $n i32) (param $C i32)
    (local $i i32) (local $p i32) (local $j i32) (local $crow i32) (local $arow i32) (local $a f64)
    (local $a1 f64) (local $a2 f64) (local $a3 f64) (local $b0 i32) (local $rowBytes i32) (local $cj i32) (local $bj i32)
    (local.set $rowBytes (i32.shl (local.get $n) (i32.const 3)))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.ge_s (local.get $i) (local.get $m)))
        (local.set $crow (i32.add (local.get $C) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $arow (i32.add (local.get $A) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 3))))
        ;; C[i,:] = 0
        (local.set $j (i32.const 0))
        (block $zeroed
          (loop $zero
            (br_if $zeroed (i32.ge_s (local.get $j) (local.get $n)))
            (f64.store (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 3))) (f64.const 0))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $zero)))
        (local.set $p (i32.const 0))
        (block $termsDone
          (loop $term
            (br_if $termsDone (i32.ge_s (local.get $p) (local.get $k)))
            (local.set $a (f64.load (i32.add (local.get $arow) (i32.shl (local.get $p) (i32.const 3)))))
            (local.set $b0 (i32.add (local.get $B) (i32.mul (local.get $p) (local.get $rowBytes))))
            (if (i32.le_s (i32.add (local.get $p) (i32.const 4)) (local.get $k))
              (then
                (local.set $a1 (f64.load offset=8 (i32.add (local.get $arow) (i32.shl (local.get $p) (i32.const 3)))))
                (local.set $a2 (f64.load offset=16 (i32.add (local.get $arow) (i32.shl (local.get $p) (i32.const 3)))))
                (local.set $a3 (f64.load offset=24 (i32.add (local.get $arow) (i32.shl (local.get $p) (i32.const 3)))))
                (if (i32.and (i32.and (f64.ne (local.get $a) (f64.const 0)) (f64.ne (local.get $a1) (f64.const 0)))
                             (i32.and (f64.ne (local.get $a2) (f64.const 0)) (f64.ne (local.get $a3) (f64.const 0))))
                  (then
                    ;; C[i,j] = C[i,j] + a·B[p,j] + a1·B[p+1,j] + a2·B[p+2,j] + a3·B[p+3,j], left to right
                    (local.set $j (i32.const 0))
                    (block $quadDone
                      (loop $quad
                        (br_if $quadDone (i32.ge_s (local.get $j) (local.get $n)))
                        (local.set $cj (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 3))))
                        (local.set $bj (i32.add (local.get $b0) (i32.shl (local.get $j) (i32.const 3))))
                        (f64.store (local.get $cj)
                          (f64.add
                            (f64.add
                              (f64.add
                                (f64.add (f64.load (local.get $cj)) (f64.mul (local.get $a) (f64.load (local.get $bj))))
                                (f64.mul (local.get $a1) (f64.load (i32.add (local.get $bj) (local.get $rowBytes)))))
                              (f64.mul (local.get $a2) (f64.load (i32.add (local.get $bj) (i32.shl (local.get $rowBytes) (i32.const 1))))))
                            (f64.mul (local.get $a3) (f64.load (i32.add (local.get $bj) (i32.mul (local.get $rowBytes) (i32.const 3)))))))
                        (local.set $j (i32.add (local.get $j) (i32.const 1)))
                        (br $quad)))
                    (local.set $p (i32.add (local.get $p) (i32.const 4)))
                    (br $term)))))
            ;; one row of B, skipped when its coefficient is zero
            (if (f64.ne (local.get $a) (f64.const 0))
              (then
                (local.set $j (i32.const 0))
                (block $oneDone
                  (loop $one
                    (br_if $oneDone (i32.ge_s (local.get $j) (local.get $n)))
                    (local.set $cj (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 3))))
                    (f64.store (local.get $cj)
                      (f64.add (f64.load (local.get $cj))
                        (f64.mul (local.get $a) (f64.load (i32.add (local.get $b0) (i32.shl (local.get $j) (i32.const 3)))))))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $one)))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $term)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $row)))
  )

  ;; 1 when every one of the `count` doubles at $B is finite (x − x is 0 for finite x, NaN
  ;; otherwise). Where B is finite, adding 0·B[p,j] = ±0 leaves C unchanged (C starts at +0
  ;; and so is never −0): skipping a zero coefficient and multiplying by it give the same bits.
  (func $finite (param $B i32) (param $count i32) (result i32)
    (local $q i32) (local $x f64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $q) (local.get $count)))
        (local.set $x (f64.load (i32.add (local.get $B) (i32.shl (local.get $q) (i32.const 3)))))
        (if (f64.ne (f64.sub (local.get $x) (local.get $x)) (f64.const 0)) (then (return (i32.const 0))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; product's result by register tiles, for a finite B: four rows of C by four columns held
  ;; in eight two-lane registers while p runs over k in order, each C[i,j] summed exactly as
  ;; product sums it (one product and one sum per term, p ascending, two columns per lane
  ;; pair; a zero coefficient adds ±0, which changes nothing, see $finite). The four columns of
  ;; B are first packed contiguously at $panel (k × 4 doubles), then reused for every row
  ;; block; a p where all four coefficients are zero (ReLU's sparse activations) is skipped.
  ;; Rows past the last block of four take the same loop one row at a time; columns past the
  ;; last block of four take product's scalar order.
  (func $tiles
    (param $A i32) (param $m i32) (param $k i32) (param $B i32) (param $n i32) (param $C i32) (param $panel i32)
    (local $j i32) (local $i i32) (local $p i32) (local $rowBytes i32) (local $kBytes i32)
    (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $pp i32) (local $off i32)
    (local $x0 f64) (local $x1 f64) (local $x2 f64) (local $x3 f64) (local $b0 v128) (local $b1 v128) (local $s v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $crow i32) (local $acc f64) (local $jj i32) (local $x f64)
    (local.set $rowBytes (i32.shl (local.get $n) (i32.const 3)))
    (local.set $kBytes (i32.shl (local.get $k) (i32.const 3)))
    (local.set $j (i32.const 0))
    (block $colsDone
      (loop $cols
        (br_if $colsDone (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        ;; pack B[:, j … j+3]
        (local.set $p (i32.const 0))
        (block $packed
          (loop $pack
            (br_if $packed (i32.ge_s (local.get $p) (local.get $k)))
            (local.set $off (i32.add (local.get $B)
              (i32.add (i32.mul (local.get $p) (local.get $rowBytes)) (i32.shl (local.get $j) (i32.const 3)))))
            (local.set $pp (i32.add (local.get $panel) (i32.shl (local.get $p) (i32.const 5))))
            (v128.store (local.get $pp) (v128.load (local.get $off)))
            (v128.store offset=16 (local.get $pp) (v128.load offset=16 (local.get $off)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $pack)))
        ;; blocks of four rows
        (local.set $i (i32.const 0))
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $m)))
            (local.set $a0 (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $kBytes))))
            (local.set $a1 (i32.add (local.get $a0) (local.get $kBytes)))
            (local.set $a2 (i32.add (local.get $a1) (local.get $kBytes)))
            (local.set $a3 (i32.add (local.get $a2) (local.get $kBytes)))
            (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
            (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
            (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
            (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
            (local.set $p (i32.const 0))
            (block $termsDone
              (loop $terms
                (br_if $termsDone (i32.ge_s (local.get $p) (local.get $k)))
                (local.set $off (i32.shl (local.get $p) (i32.const 3)))
                (local.set $x0 (f64.load (i32.add (local.get $a0) (local.get $off))))
                (local.set $x1 (f64.load (i32.add (local.get $a1) (local.get $off))))
                (local.set $x2 (f64.load (i32.add (local.get $a2) (local.get $off))))
                (local.set $x3 (f64.load (i32.add (local.get $a3) (local.get $off))))
                (if (i32.or (i32.or (f64.ne (local.get $x0) (f64.const 0)) (f64.ne (local.get $x1) (f64.const 0)))
                            (i32.or (f64.ne (local.get $x2) (f64.const 0)) (f64.ne (local.get $x3) (f64.const 0))))
                  (then
                    (local.set $pp (i32.add (local.get $panel) (i32.shl (local.get $p) (i32.const 5))))
                    (local.set $b0 (v128.load (local.get $pp)))
                    (local.set $b1 (v128.load offset=16 (local.get $pp)))
                    (local.set $s (f64x2.splat (local.get $x0)))
                    (local.set $c00 (f64x2.add (local.get $c00) (f64x2.mul (local.get $s) (local.get $b0))))
                    (local.set $c01 (f64x2.add (local.get $c01) (f64x2.mul (local.get $s) (local.get $b1))))
                    (local.set $s (f64x2.splat (local.get $x1)))
                    (local.set $c10 (f64x2.add (local.get $c10) (f64x2.mul (local.get $s) (local.get $b0))))
                    (local.set $c11 (f64x2.add (local.get $c11) (f64x2.mul (local.get $s) (local.get $b1))))
                    (local.set $s (f64x2.splat (local.get $x2)))
                    (local.set $c20 (f64x2.add (local.get $c20) (f64x2.mul (local.get $s) (local.get $b0))))
                    (local.set $c21 (f64x2.add (local.get $c21) (f64x2.mul (local.get $s) (local.get $b1))))
                    (local.set $s (f64x2.splat (local.get $x3)))
                    (local.set $c30 (f64x2.add (local.get $c30) (f64x2.mul (local.get $s) (local.get $b0))))
                    (local.set $c31 (f64x2.add (local.get $c31) (f64x2.mul (local.get $s) (local.get $b1))))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $terms)))
            (local.set $crow (i32.add (local.get $C)
              (i32.add (i32.mul (local.get $i) (local.get $rowBytes)) (i32.shl (local.get $j) (i32.const 3)))))
            (v128.store (local.get $crow) (local.get $c00))
            (v128.store offset=16 (local.get $crow) (local.get $c01))
            (local.set $crow (i32.add (local.get $crow) (local.get $rowBytes)))
            (v128.store (local.get $crow) (local.get $c10))
            (v128.store offset=16 (local.get $crow) (local.get $c11))
            (local.set $crow (i32.add (local.get $crow) (local.get $rowBytes)))
            (v128.store (local.get $crow) (local.get $c20))
            (v128.store offset=16 (local.get $crow) (local.get $c21))
            (local.set $crow (i32.add (local.get $crow) (local.get $rowBytes)))
            (v128.store (local.get $crow) (local.get $c30))
            (v128.store offset=16 (local.get $crow) (local.get $c31))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $rows)))
        ;; the rows left, one at a time
        (block $oneDone
          (loop $one
            (br_if $oneDone (i32.ge_s (local.get $i) (local.get $m)))
            (local.set $a0 (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $kBytes))))
            (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
            (local.set $p (i32.const 0))
            (block $oneTermsDone
              (loop $oneTerms
                (br_if $oneTermsDone (i32.ge_s (local.get $p) (local.get $k)))
                (local.set $x0 (f64.load (i32.add (local.get $a0) (i32.shl (local.get $p) (i32.const 3)))))
                (if (f64.ne (local.get $x0) (f64.const 0))
                  (then
                    (local.set $pp (i32.add (local.get $panel) (i32.shl (local.get $p) (i32.const 5))))
                    (local.set $s (f64x2.splat (local.get $x0)))
                    (local.set $c00 (f64x2.add (local.get $c00) (f64x2.mul (local.get $s) (v128.load (local.get $pp)))))
                    (local.set $c01 (f64x2.add (local.get $c01) (f64x2.mul (local.get $s) (v128.load offset=16 (local.get $pp)))))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $oneTerms)))
            (local.set $crow (i32.add (local.get $C)
              (i32.add (i32.mul (local.get $i) (local.get $rowBytes)) (i32.shl (local.get $j) (i32.const 3)))))
            (v128.store (local.get $crow) (local.get $c00))
            (v128.store offset=16 (local.get $crow) (local.get $c01))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $one)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $cols)))
    ;; the columns left: C[i,j] = Σ_p A[i,p]·B[p,j] in p order, zero A[i,p] skipped
    (local.set $i (i32.const 0))
    (block $restDone
      (loop $rest
        (br_if $restDone (i32.ge_s (local.get $i) (local.get $m)))
        (local.set $a0 (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $kBytes))))
        (local.set $jj (local.get $j))
        (block $restColsDone
          (loop $restCols
            (br_if $restColsDone (i32.ge_s (local.get $jj) (local.get $n)))
            (local.set $acc (f64.const 0))
            (local.set $p (i32.const 0))
            (block $dotDone
              (loop $dot
                (br_if $dotDone (i32.ge_s (local.get $p) (local.get $k)))
                (local.set $x (f64.load (i32.add (local.get $a0) (i32.shl (local.get $p) (i32.const 3)))))
                (if (f64.ne (local.get $x) (f64.const 0))
                  (then
                    (local.set $acc (f64.add (local.get $acc) (f64.mul (local.get $x)
                      (f64.load (i32.add (local.get $B)
                        (i32.add (i32.mul (local.get $p) (local.get $rowBytes)) (i32.shl (local.get $jj) (i32.const 3))))))))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $dot)))
            (f64.store (i32.add (local.get $C)
              (i32.add (i32.mul (local.get $i) (local.get $rowBytes)) (i32.shl (local.get $jj) (i32.const 3))))
              (local.get $acc))
            (local.set $jj (i32.add (local.get $jj) (i32.const 1)))
            (br $restCols)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rest))))

  ;; How many of the `count` doubles at $A are not zero.
  (func $nonzeros (param $A i32) (param $count i32) (result i32)
    (local $q i32) (local $nz i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $q) (local.get $count)))
        (local.set $nz (i32.add (local.get $nz)
          (f64.ne (f64.load (i32.add (local.get $A) (i32.shl (local.get $q) (i32.const 3)))) (f64.const 0))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $next)))
    (local.get $nz))

  ;; product, by register tiles when B is finite (the same bits, see $tiles) and A mostly
  ;; non-zero; product itself skips each zero coefficient, which pays for an A with many (a
  ;; ReLU layer's activations: about half). $panel: room for k × 4 doubles.
  (func (export "productTiled")
    (param $A i32) (param $m i32) (param $k i32) (param $B i32) (param $n i32) (param $C i32) (param $panel i32)
    (if (i32.and
          (i32.ge_s (i32.mul (call $nonzeros (local.get $A) (i32.mul (local.get $m) (local.get $k))) (i32.const 4))
                    (i32.mul (i32.mul (local.get $m) (local.get $k)) (i32.const 3)))
          (call $finite (local.get $B) (i32.mul (local.get $k) (local.get $n))))
      (then (call $tiles (local.get $A) (local.get $m) (local.get $k) (local.get $B) (local.get $n) (local.get $C) (local.get $panel)))
      (else (call $product (local.get $A) (local.get $m) (local.get $k) (local.get $B) (local.get $n) (local.get $C)))))

  ;; IncrementalTables' margins of one ReLU unit (marginOfReluUnit), example-major: for each
  ;; active example c = cs[t], margin[c] = min over r < R of |Zt[c·R + r]|·inv[r], in two-lane
  ;; registers (a minimum is the same number in any order; min keeps a NaN, as Math.min does).
  (func (export "marginRows")
    (param $Zt i32) (param $R i32) (param $inv i32) (param $cs i32) (param $from i32) (param $to i32) (param $margin i32)
    (local $t i32) (local $c i32) (local $row i32) (local $r i32) (local $m0 v128) (local $m1 v128) (local $mn f64)
    (local.set $t (local.get $from))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $t) (local.get $to)))
        (local.set $c (i32.load (i32.add (local.get $cs) (i32.shl (local.get $t) (i32.const 2)))))
        (local.set $row (i32.add (local.get $Zt) (i32.shl (i32.mul (local.get $c) (local.get $R)) (i32.const 3))))
        (local.set $m0 (f64x2.splat (f64.const inf)))
        (local.set $m1 (f64x2.splat (f64.const inf)))
        (local.set $mn (f64.const inf))
        (local.set $r (i32.const 0))
        (block $quadsDone
          (loop $quads
            (br_if $quadsDone (i32.gt_s (i32.add (local.get $r) (i32.const 4)) (local.get $R)))
            (local.set $m0 (f64x2.min (local.get $m0)
              (f64x2.mul (f64x2.abs (v128.load (i32.add (local.get $row) (i32.shl (local.get $r) (i32.const 3)))))
                (v128.load (i32.add (local.get $inv) (i32.shl (local.get $r) (i32.const 3)))))))
            (local.set $m1 (f64x2.min (local.get $m1)
              (f64x2.mul (f64x2.abs (v128.load offset=16 (i32.add (local.get $row) (i32.shl (local.get $r) (i32.const 3)))))
                (v128.load offset=16 (i32.add (local.get $inv) (i32.shl (local.get $r) (i32.const 3)))))))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $quads)))
        (block $restDone
          (loop $rest
            (br_if $restDone (i32.ge_s (local.get $r) (local.get $R)))
            (local.set $mn (f64.min (local.get $mn)
              (f64.mul (f64.abs (f64.load (i32.add (local.get $row) (i32.shl (local.get $r) (i32.const 3)))))
                (f64.load (i32.add (local.get $inv) (i32.shl (local.get $r) (i32.const 3)))))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rest)))
        (local.set $m0 (f64x2.min (local.get $m0) (local.get $m1)))
        (local.set $mn (f64.min (local.get $mn)
          (f64.min (f64x2.extract_lane 0 (local.get $m0)) (f64x2.extract_lane 1 (local.get $m0)))))
        (f64.store (i32.add (local.get $margin) (i32.shl (local.get $c) (i32.const 3)))
          (f64.min (local.get $mn) (f64.load (i32.add (local.get $margin) (i32.shl (local.get $c) (i32.const 3))))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $next))))
)
