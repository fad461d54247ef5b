-- Search near a place (issue #13): sites are narrowed by a latitude/longitude box before the
-- exact great-circle distance is computed (csms/booking/search.py). A B-tree on (latitude,
-- longitude) serves the box: the latitude range as its bounds, the longitude ranges checked in
-- the index. Sites without coordinates are never in a search near a place, so not in it.
CREATE INDEX sites_location ON sites (latitude, longitude)
    WHERE latitude IS NOT NULL AND longitude IS NOT NULL;
