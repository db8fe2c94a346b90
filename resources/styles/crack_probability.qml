<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
<pipe>
<rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" classificationMin="0.0" classificationMax="1.0"><rasterTransparency/><rastershader><colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="0.0" maximumValue="1.0"><item value="0.0" color="#ffffff" label="0" alpha="0"/><item value="0.499" color="#ffffff" label="&lt; 0.5" alpha="0"/><item value="0.5" color="#ffff00" label="0.5" alpha="200"/><item value="1.0" color="#d7191c" label="1 (crack)" alpha="230"/></colorrampshader></rastershader></rasterrenderer>
</pipe>
<blendMode>0</blendMode>
</qgis>
