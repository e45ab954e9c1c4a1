from services.common.runtime import serve
from services.common.settings import get_settings
from services.tracker.service import create_app

settings = get_settings()
serve(create_app(settings), settings, settings.tracker_port)
