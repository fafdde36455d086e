"""One router per resource; each route calls voc functions and never builds SQL."""
