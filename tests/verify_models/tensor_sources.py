"""Gradients asked for a variable and for a plain tensor the tape never watches: the tensor's is None. The
integer tensor's is None too, and always is: not a failure."""
import tensorflow as tf

w = tf.Variable(2.0, name="w")
x, steps = tf.constant(3.0), tf.constant(3)
with tf.GradientTape() as tape:
    y = w * x * tf.cast(steps, tf.float32)
dw, dx, _ = tape.gradient(y, [w, x, steps])
print(f"dy/dw = {dw}, dy/dx = {dx}")
