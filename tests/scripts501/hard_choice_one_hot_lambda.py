"""A Keras-2 style functional router (tf_keras): a hard one-hot choice of an expert, made with
K.one_hot(K.argmax(...)) in a Lambda layer, weights the experts' outputs. `router` never trains."""
import numpy as np
from tensorflow.keras import backend as K
from tensorflow.keras.layers import Dense, Input, Lambda, Multiply
from tensorflow.keras.models import Model

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 10)).astype("float32")
y = x[:, :4].sum(axis=1, keepdims=True)

inputs = Input(shape=(10,))
scores = Dense(4, name="router")(inputs)
choice = Lambda(lambda s: K.one_hot(K.argmax(s), 4))(scores)
experts = Dense(4, name="experts")(inputs)
outputs = Dense(1, name="head")(Multiply()([choice, experts]))
model = Model(inputs, outputs, name="routed")
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=1, batch_size=16, verbose=0)
