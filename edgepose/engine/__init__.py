"""The BlazePose pipeline: detector, ROI maths, landmark model, and the detector-tracker loop."""
