"""The info icons' definitions, from the course notes (CS231n), one or two sentences each."""

INFO = {
    "width": "The number of channels (filters) in every convolutional block, or units in every layer of an MLP. "
    "Wider networks have more capacity but cost more per epoch and can overfit small datasets.",
    "depth": "The number of Conv-BatchNorm-ReLU blocks (Linear-BatchNorm-ReLU for vector data). "
    "Deeper networks can compute more complex functions and see larger image regions, but train more slowly.",
    "lr": "The step size of stochastic gradient descent. Too high and the loss explodes or bounces; too low and it "
    "barely moves. Usually the first hyperparameter to tune, searched on a log scale.",
    "weight_decay": "L2 regularization strength: a penalty on large weights added to the loss. "
    "It fights overfitting (a large gap between training and validation accuracy).",
    "dropout": "The probability of setting each activation to zero during training (inverted dropout). "
    "A regularizer: it prevents co-adaptation of features. It is switched off when evaluating.",
    "classes": "How many categories each example can belong to. Chance accuracy is about one over the number of classes.",
    "input_size": "The shape of one example: [channels, height, width] for images (a CNN is used), "
    "or [D] for a vector of D features (an MLP is used).",
    "examples": "How many labelled examples the network trains on (Train) and is scored on (Val). "
    "Validation data is never trained on: it estimates how well the network generalizes.",
    "actions": "Every submit is an action: Continue, Revert or Done. A run ends after 60 actions, 30 epochs on the "
    "current network, or when you choose Done.",
    "revert": "Go back to the checkpoint before the last epoch, with that epoch's configuration. "
    "At most 5 reverts in a row.",
    "epochs": "An epoch is one pass over the training data. \"On the current network\" counts the epochs on the path "
    "you are on now (the 30-epoch limit counts these); a Revert takes the last one off that path, but it was still "
    "trained, so \"trained in all\" counts it too.",
    "history": "One line per epoch on the current path, newest first, with the configuration that epoch used.",
    "best_val": "Your score: the highest validation accuracy of any epoch you trained in this run, reverted epochs "
    "included (a Revert takes the network back, not the score); that epoch's network is the one the held-out test data scores. "
    "The baseline is the default "
    "configuration trained for the whole epoch budget without changes.",
    "grow": "Width Up and Depth Up are function-preserving (Net2Net): the grown network computes exactly the same "
    "outputs, so its validation loss is unchanged before the next epoch; what growing buys is capacity: the new units or "
    "blocks can learn more in the epochs that follow. Down removes units or blocks and changes it.",
    "overfitting": "Overfitting: the network fits the training data ever better while validation accuracy stops "
    "improving or falls (a growing gap between training and validation accuracy). Remedies: stop early (revert to the "
    "best epoch), more regularization (weight decay, dropout), or a smaller network.",
    "underfitting": "Underfitting: even training accuracy stays low, so the network cannot fit the data. Remedies: more "
    "capacity (width or depth up), a better learning rate, less regularization.",
    "divergence": "Divergence: the loss explodes to infinity or NaN, usually because the learning rate is too high. "
    "Revert to the last good checkpoint and lower the learning rate.",
    "plateau": "Plateau: the loss and validation accuracy stop improving. Lowering the learning rate (decay) often helps; "
    "when nothing helps any more, further epochs are wasted and Done is the right call.",
}
