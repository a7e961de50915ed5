"""Route modules, one per topic. Importing them declares their routes on the versioned router."""

from service.api.routes import forecast, language_model, models, sentiment

TOPICS = (models, sentiment, language_model, forecast)
